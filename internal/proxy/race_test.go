//go:build race

package proxy_test

// sync.Pool drops items at random under the race detector, so allocation
// totals mean nothing there.
const raceEnabled = true
