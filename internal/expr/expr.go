// Package expr compiles and evaluates APISIX / lua-resty-expr expressions,
// the language of a route's `vars` and of response-rewrite's `vars`
// condition:
//
//	[["arg_name", "==", "json"], ["http_x_id", "~~", "^[0-9]+$"]]   # AND of all
//	[["OR", ["arg_a", "==", "1"], ["!AND", ["arg_b", ">", 2], ["arg_c", "IN", ["x", "y"]]]]]
//	["remote_addr", "!", "ipmatch", ["10.0.0.0/8"]]
//
// Compile turns a YAML node into an Expr once, at config load (regexes,
// numbers, IN sets and CIDRs are prepared then, and errors carry the node's
// line and column); Expr.Eval evaluates it against a request's variables
// without allocating.
package expr

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unsafe"

	"gopkg.in/yaml.v3"

	"github.com/heimdallgw/heimdall/internal/vars"
)

// Error is a compile error at a YAML position.
type Error struct {
	Line, Column int
	Msg          string
}

func (e *Error) Error() string { return e.Msg }

func errAt(n *yaml.Node, format string, args ...any) *Error {
	return &Error{Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)}
}

// Expr is a compiled expression. The nil *Expr is true (no condition).
type Expr struct {
	root node
}

// Eval reports whether the expression holds for c.
func (e *Expr) Eval(c *vars.Context) bool {
	if e == nil {
		return true
	}
	return e.root.eval(c)
}

type node interface{ eval(*vars.Context) bool }

type logic struct {
	or, not bool
	kids    []node
}

func (l *logic) eval(c *vars.Context) bool {
	r := !l.or
	for _, k := range l.kids {
		if k.eval(c) == l.or {
			r = l.or
			break
		}
	}
	return r != l.not
}

type opKind uint8

const (
	opEq opKind = iota
	opNe
	opGt
	opLt
	opGe
	opLe
	opRe
	opReI
	opIn
	opHas
	opIPMatch
)

type cmp struct {
	v    vars.Var
	op   opKind
	not  bool
	str  string
	num  float64
	re   *regexp.Regexp
	set  []string
	nets []netip.Prefix
}

func (p *cmp) eval(c *vars.Context) bool {
	val, ok := c.Get(p.v)
	return p.test(val, ok) != p.not
}

func (p *cmp) test(val []byte, ok bool) bool {
	switch p.op {
	case opEq:
		return ok && string(val) == p.str
	case opNe:
		// lua-resty-expr: nil ~= "x" is true.
		return !ok || string(val) != p.str
	case opGt, opLt, opGe, opLe:
		if !ok {
			return false
		}
		f, ok := toNumber(val)
		if !ok {
			return false
		}
		switch p.op {
		case opGt:
			return f > p.num
		case opLt:
			return f < p.num
		case opGe:
			return f >= p.num
		}
		return f <= p.num
	case opRe, opReI:
		return ok && p.re.Match(val)
	case opIn:
		if !ok {
			return false
		}
		for _, s := range p.set {
			if string(val) == s {
				return true
			}
		}
		return false
	case opHas:
		// The variable is a comma-separated list (a multi-valued header
		// folded by the engine); HAS holds when one element equals the value.
		if !ok {
			return false
		}
		for len(val) > 0 {
			var e []byte
			if i := bytes.IndexByte(val, ','); i >= 0 {
				e, val = val[:i], val[i+1:]
			} else {
				e, val = val, nil
			}
			if string(bytes.TrimSpace(e)) == p.str {
				return true
			}
		}
		return false
	case opIPMatch:
		if !ok {
			return false
		}
		a, err := netip.ParseAddr(bytesToString(val))
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, n := range p.nets {
			if n.Contains(a) {
				return true
			}
		}
		return false
	}
	return false
}

// Compile compiles a `vars` value: a list of expressions (all must hold), or
// a logical form whose first element is "AND", "OR", "!AND" or "!OR".
// A null or empty list compiles to nil, which is always true.
func Compile(n *yaml.Node) (*Expr, error) {
	n = resolve(n)
	if n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, "expected a list of expressions such as [[\"arg_name\", \"==\", \"json\"]]")
	}
	if len(n.Content) == 0 {
		return nil, nil
	}
	root, err := compileRule(n)
	if err != nil {
		return nil, err
	}
	return &Expr{root: root}, nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// compileRule compiles a list that is either a logical form, an implicit AND
// of sub-lists, or a single comparison.
func compileRule(n *yaml.Node) (node, error) {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(n, "expected an expression (a list), got %q", n.Value)
	}
	if len(n.Content) == 0 {
		return nil, errAt(n, "empty expression")
	}
	first := resolve(n.Content[0])
	if first.Kind == yaml.SequenceNode {
		l := &logic{}
		for _, k := range n.Content {
			c, err := compileRule(k)
			if err != nil {
				return nil, err
			}
			l.kids = append(l.kids, c)
		}
		return l, nil
	}
	if first.Kind == yaml.ScalarNode {
		op := strings.ToUpper(first.Value)
		if op == "AND" || op == "OR" || op == "!AND" || op == "!OR" {
			if len(n.Content) < 2 {
				return nil, errAt(first, "%s needs at least one expression", first.Value)
			}
			l := &logic{or: strings.HasSuffix(op, "OR"), not: op[0] == '!'}
			for _, k := range n.Content[1:] {
				c, err := compileRule(k)
				if err != nil {
					return nil, err
				}
				l.kids = append(l.kids, c)
			}
			return l, nil
		}
	}
	return compileCmp(n)
}

var ops = map[string]opKind{
	"==": opEq, "~=": opNe, ">": opGt, "<": opLt, ">=": opGe, "<=": opLe,
	"~~": opRe, "~*": opReI, "IN": opIn, "HAS": opHas, "IPMATCH": opIPMatch,
}

func compileCmp(n *yaml.Node) (node, error) {
	c := n.Content
	for i, k := range c {
		c[i] = resolve(k)
	}
	if c[0].Kind != yaml.ScalarNode {
		return nil, errAt(c[0], "expected a variable name")
	}
	v, err := vars.Parse(c[0].Value)
	if err != nil {
		return nil, errAt(c[0], "%v", err)
	}
	p := &cmp{v: v}
	rest := c[1:]
	if len(rest) > 0 && rest[0].Kind == yaml.ScalarNode && rest[0].Value == "!" {
		p.not = true
		rest = rest[1:]
	}
	if len(rest) != 2 {
		return nil, errAt(n, "expected [variable, operator, value] or [variable, \"!\", operator, value], got %d elements", len(c))
	}
	opN, val := rest[0], rest[1]
	op, ok := ops[strings.ToUpper(opN.Value)]
	if opN.Kind != yaml.ScalarNode || !ok {
		return nil, errAt(opN, "unknown operator %q (supported: ==, ~=, >, <, >=, <=, ~~, ~*, IN, HAS, ipmatch)", opN.Value)
	}
	p.op = op
	switch op {
	case opIn, opIPMatch:
		items := []*yaml.Node{val}
		if val.Kind == yaml.SequenceNode {
			items = val.Content
		} else if op == opIn {
			return nil, errAt(val, "IN needs a list of values")
		}
		for _, it := range items {
			it = resolve(it)
			if it.Kind != yaml.ScalarNode {
				return nil, errAt(it, "expected a scalar value")
			}
			if op == opIn {
				p.set = append(p.set, it.Value)
				continue
			}
			pre, err := parsePrefix(it.Value)
			if err != nil {
				return nil, errAt(it, "ipmatch: %v", err)
			}
			p.nets = append(p.nets, pre)
		}
		return p, nil
	}
	if val.Kind != yaml.ScalarNode {
		return nil, errAt(val, "expected a scalar value for %s", opN.Value)
	}
	p.str = val.Value
	switch op {
	case opGt, opLt, opGe, opLe:
		f, err := strconv.ParseFloat(val.Value, 64)
		if err != nil {
			return nil, errAt(val, "%s needs a number, got %q", opN.Value, val.Value)
		}
		p.num = f
	case opRe, opReI:
		src := val.Value
		if op == opReI {
			src = "(?i)" + src
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return nil, errAt(val, "invalid regular expression %q: %v (Go RE2 syntax: no look-around or back-references)", val.Value, err)
		}
		p.re = re
	}
	return p, nil
}

// parsePrefix accepts an address or a CIDR.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// toNumber is Lua's tonumber for the decimal forms a request carries. Plain
// integers are parsed in place (no allocation); other forms go through
// strconv.
func toNumber(b []byte) (float64, bool) {
	if len(b) > 0 && len(b) < 16 {
		neg, i := false, 0
		if b[0] == '-' {
			neg, i = true, 1
		}
		n, digits := int64(0), 0
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			n = n*10 + int64(b[i]-'0')
			digits++
		}
		if i == len(b) && digits > 0 {
			if neg {
				n = -n
			}
			return float64(n), true
		}
	}
	f, err := strconv.ParseFloat(bytesToString(bytes.TrimSpace(b)), 64)
	return f, err == nil
}

// bytesToString views b as a string for a parse that does not keep it (the
// error, which may quote it, is discarded).
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
