//go:build !race

package e2e

// memoryRequests is how many requests TestHeimdallMemoryFlat measures.
const memoryRequests = 20000
