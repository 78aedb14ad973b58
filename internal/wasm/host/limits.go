package host

// Limits bound what one plugin can make the host hold for it. Exceeding
// one is a handled failure: the host call fails (or the log line is cut),
// the plugin keeps running, and a warning names plugin, limit and route.
// The zero value of each field means its Default*.
type Limits struct {
	// SharedDataBytes and SharedDataKeys cap the plugin's vm_id namespace
	// of shared data (keys plus values); a set past either fails with
	// InternalFailure (proxy-wasm has no "resource exhausted" status).
	SharedDataBytes int64
	SharedDataKeys  int
	// QueueDepth caps the items waiting in one shared queue; an enqueue
	// past it fails with InternalFailure.
	QueueDepth int
	// LogLine caps the bytes of one proxy_log message (and of one line of
	// the guest's stdout/stderr); a longer one is cut and marked.
	LogLine int
	// BodyBuffer, when not 0, overrides the gateway's body_buffer_limit for
	// this plugin: the bytes one stream may buffer from a body by pausing.
	BodyBuffer int
}

// Defaults of Limits.
const (
	DefaultSharedDataBytes = 64 << 20
	DefaultSharedDataKeys  = 100_000
	DefaultQueueDepth      = 10_000
	// DefaultLogLine is 16 KiB: far above a useful log line, far below
	// what makes a log pipeline choke (nginx cuts error log lines at 2 KiB).
	DefaultLogLine = 16 << 10
)

func (l Limits) withDefaults() Limits {
	if l.SharedDataBytes <= 0 {
		l.SharedDataBytes = DefaultSharedDataBytes
	}
	if l.SharedDataKeys <= 0 {
		l.SharedDataKeys = DefaultSharedDataKeys
	}
	if l.QueueDepth <= 0 {
		l.QueueDepth = DefaultQueueDepth
	}
	if l.LogLine <= 0 {
		l.LogLine = DefaultLogLine
	}
	return l
}

// truncMarker ends a log message cut at Limits.LogLine.
const truncMarker = "...[truncated by heimdall: "

// cutLine returns msg cut to max bytes with a marker saying how much was
// dropped, and whether it was cut.
func cutLine(msg []byte, max int) (string, bool) {
	if len(msg) <= max {
		return string(msg), false
	}
	return string(msg[:max]) + truncMarker + itoa(len(msg)-max) + " bytes]", true
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}
