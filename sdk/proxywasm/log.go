package proxywasm

import (
	"fmt"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/internal/abi"
	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// Logging goes through proxy_log. Log functions drop errors: a plugin
// cannot do anything useful when logging fails.

func logAt(level types.LogLevel, msg string) { host().Log(level, msg) }

// levelCache holds the host's log level for the running callback, so the
// f-variants skip formatting what the host would drop, at one
// proxy_get_log_level per callback.
var levelCache struct {
	epoch uint32
	level types.LogLevel
	valid bool
}

// enabled reports whether the host keeps messages at level; true when it
// cannot tell (outside a wasm callback, or the host does not answer).
func enabled(level types.LogLevel) bool {
	epoch, in := abi.Epoch()
	if !in {
		return true
	}
	if !levelCache.valid || levelCache.epoch != epoch {
		l, st := host().GetLogLevel()
		if st != types.StatusOK {
			return true
		}
		levelCache.epoch, levelCache.level, levelCache.valid = epoch, l, true
	}
	return level >= levelCache.level
}

// logf formats and logs when the host keeps level. The line is formatted
// into the shared input buffer, so logging allocates nothing of its own.
// (Arguments that are not pointers are boxed by the caller, on the heap,
// before the level is known: fmt may keep what it is given, as far as the
// compiler can tell. Guard hot debug lines with GetLogLevel.)
func logf(level types.LogLevel, format string, args []any) {
	if !enabled(level) {
		return
	}
	in := getInput()
	in.b = fmt.Appendf(in.b, format, args...)
	host().Log(level, in.str())
	in.put()
}

func LogTrace(msg string)    { logAt(types.LogLevelTrace, msg) }
func LogDebug(msg string)    { logAt(types.LogLevelDebug, msg) }
func LogInfo(msg string)     { logAt(types.LogLevelInfo, msg) }
func LogWarn(msg string)     { logAt(types.LogLevelWarn, msg) }
func LogError(msg string)    { logAt(types.LogLevelError, msg) }
func LogCritical(msg string) { logAt(types.LogLevelCritical, msg) }

func LogTracef(format string, args ...any)    { logf(types.LogLevelTrace, format, args) }
func LogDebugf(format string, args ...any)    { logf(types.LogLevelDebug, format, args) }
func LogInfof(format string, args ...any)     { logf(types.LogLevelInfo, format, args) }
func LogWarnf(format string, args ...any)     { logf(types.LogLevelWarn, format, args) }
func LogErrorf(format string, args ...any)    { logf(types.LogLevelError, format, args) }
func LogCriticalf(format string, args ...any) { logf(types.LogLevelCritical, format, args) }

// GetLogLevel returns the host's log level, so a plugin can skip building
// messages the host would discard.
func GetLogLevel() (types.LogLevel, error) {
	l, st := host().GetLogLevel()
	return l, statusErr("proxy_get_log_level", st)
}
