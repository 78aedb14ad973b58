package bench

import (
	"syscall"
	"testing"
	"time"
)

// cpuMeter reports the process CPU time per op next to ns/op. On a busy
// machine wall time per op includes time the benchmark was not running;
// CPU time per op does not (it includes GC and other goroutines instead).
type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter { return cpuMeter{start: processCPU()} }

// report adds the cpu-ns/op metric; call it right after the b.Loop loop.
func (m cpuMeter) report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(processCPU()-m.start)/float64(b.N), "cpu-ns/op")
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
