package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/heimdallgw/heimdall/internal/accesslog"
	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/dashboard"
)

// pluginLogLines is how many plugin log lines the dashboard can show.
const pluginLogLines = 1000

// Logs are the gateway's two logs: the error log (everything that is not one
// line per request) and the access log.
type Logs struct {
	Error  *slog.Logger
	Access *slog.Logger // nil when the access log is off
	// Plugins keeps the last plugin log lines of the error log, for the
	// dashboard.
	Plugins *dashboard.Ring
	closer  io.Closer
}

// NewLogs builds the logs config.yaml asks for. The error log goes to
// stderr at nginx_config.error_log_level; the access log to stdout or to
// heimdall.access_log.path.
func NewLogs(m *config.Main, stdout, stderr io.Writer) (*Logs, error) {
	ring := dashboard.NewRing(pluginLogLines)
	l := &Logs{Plugins: ring, Error: slog.New(ring.Handler(newHandler(m.Heimdall.LogFormat, stderr, m.NginxConfig.LogLevel)))}
	if !m.Heimdall.AccessLog.Enable {
		return l, nil
	}
	out := stdout
	if p := m.Heimdall.AccessLog.Path; p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("opening access log: %w", err)
		}
		out = f
	} else {
		out = struct{ io.Writer }{stdout} // Close must not close stdout
	}
	w := newBufferedLog(out)
	var h slog.Handler
	if m.Heimdall.LogFormat == config.LogFormatJSON {
		h = newHandler(m.Heimdall.LogFormat, w, slog.LevelInfo)
	} else {
		// The text handler with the proxy's allocation-free access line.
		h = accesslog.NewTextHandler(w, slog.LevelInfo)
	}
	l.Access, l.closer = slog.New(h), w
	return l, nil
}

// Close writes out the buffered access log and closes its file, if any.
func (l *Logs) Close() error {
	if l.closer != nil {
		return l.closer.Close()
	}
	return nil
}

func newHandler(format string, w io.Writer, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if format == config.LogFormatJSON {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}
