//go:build race

package e2e

// memoryRequests is smaller under the race detector (about 5x slower per
// request); the full count runs without it.
const memoryRequests = 4000
