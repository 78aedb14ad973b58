package plugintool

import (
	"fmt"
	"sync"
	"time"
)

// Slow is how long a step runs before it is reported as in progress, and
// how long it must have taken to be reported when done.
const Slow = time.Second

// Progress is told about slow steps; done is false while the step runs.
type Progress func(msg string, done bool)

// Compiling runs fn (a plugin load) and tells p about it when it is slow:
// after Slow a "compiling" message, and when done one with the duration.
// A fast load (the compilation cache) says nothing.
func Compiling(p Progress, name string, size int, fn func() error) error {
	if p == nil {
		return fn()
	}
	start := time.Now()
	var mu sync.Mutex
	shown := false
	t := time.AfterFunc(Slow, func() {
		mu.Lock()
		defer mu.Unlock()
		shown = true
		p(fmt.Sprintf("compiling plugin %s (%d KiB; the first compile takes a while, later ones use the cache)...", name, size>>10), false)
	})
	err := fn()
	t.Stop()
	mu.Lock()
	defer mu.Unlock()
	if d := time.Since(start); shown || d >= Slow {
		status := "compiled"
		if err != nil {
			status = "failed to compile"
		}
		p(fmt.Sprintf("%s plugin %s in %s", status, name, d.Round(time.Millisecond)), true)
	}
	return err
}
