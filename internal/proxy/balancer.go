package proxy

import (
	"slices"
	"strconv"
	"sync"
)

// roundRobin is nginx's smooth weighted round robin: every pick adds each
// node's weight to its current weight, takes the node with the highest
// current weight and subtracts the total from it. Weights 5,1,1 give
// a a b a c a a rather than a a a a a b c.
type roundRobin struct {
	mu      sync.Mutex
	nodes   []*Node
	current []int
	total   int
}

func newRoundRobin(nodes []*Node) *roundRobin {
	rr := &roundRobin{nodes: nodes, current: make([]int, len(nodes))}
	for _, n := range nodes {
		rr.total += n.Weight
	}
	return rr
}

func (rr *roundRobin) pick(_ []byte, tried []bool) *Node {
	if len(rr.nodes) == 1 {
		return rr.nodes[0]
	}
	rr.mu.Lock()
	best, total := -1, 0
	for i, n := range rr.nodes {
		if tried != nil && tried[i] {
			continue
		}
		rr.current[i] += n.Weight
		total += n.Weight
		if best < 0 || rr.current[i] > rr.current[best] {
			best = i
		}
	}
	if best < 0 {
		rr.mu.Unlock()
		return nil
	}
	rr.current[best] -= total
	rr.mu.Unlock()
	return rr.nodes[best]
}

// chash is a consistent hash ring with virtual points per weight unit, as
// nginx's hash ... consistent (160 points per unit of weight).
type chash struct {
	points []chashPoint
	nodes  []*Node
}

type chashPoint struct {
	hash uint32
	node int
}

const chashPointsPerWeight = 160

func newCHash(nodes []*Node) *chash {
	c := &chash{nodes: nodes}
	for i, n := range nodes {
		for v := 0; v < n.Weight*chashPointsPerWeight; v++ {
			key := n.Addr + "#" + strconv.Itoa(v)
			c.points = append(c.points, chashPoint{hash: hash32([]byte(key)), node: i})
		}
	}
	slices.SortFunc(c.points, func(a, b chashPoint) int {
		if a.hash != b.hash {
			if a.hash < b.hash {
				return -1
			}
			return 1
		}
		return a.node - b.node
	})
	return c
}

func (c *chash) pick(key []byte, tried []bool) *Node {
	if len(c.nodes) == 1 {
		return c.nodes[0]
	}
	h := hash32(key)
	i, _ := slices.BinarySearchFunc(c.points, h, func(p chashPoint, h uint32) int {
		if p.hash < h {
			return -1
		}
		if p.hash > h {
			return 1
		}
		return 0
	})
	// Walk clockwise to the first point of a node not tried yet.
	for k := 0; k < len(c.points); k++ {
		p := c.points[(i+k)%len(c.points)]
		if tried == nil || !tried[p.node] {
			return c.nodes[p.node]
		}
	}
	return nil
}

// hash32 is FNV-1a with a final avalanche, stable across processes so that
// every gateway instance maps a key to the same node.
func hash32(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
