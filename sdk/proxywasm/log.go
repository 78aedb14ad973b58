package proxywasm

import (
	"fmt"

	"github.com/heimdallgw/heimdall/sdk/proxywasm/types"
)

// Logging goes through proxy_log. Log functions drop errors: a plugin
// cannot do anything useful when logging fails.

func logAt(level types.LogLevel, msg string) { host().Log(level, msg) }

func LogTrace(msg string)    { logAt(types.LogLevelTrace, msg) }
func LogDebug(msg string)    { logAt(types.LogLevelDebug, msg) }
func LogInfo(msg string)     { logAt(types.LogLevelInfo, msg) }
func LogWarn(msg string)     { logAt(types.LogLevelWarn, msg) }
func LogError(msg string)    { logAt(types.LogLevelError, msg) }
func LogCritical(msg string) { logAt(types.LogLevelCritical, msg) }

func LogTracef(format string, args ...any) { logAt(types.LogLevelTrace, fmt.Sprintf(format, args...)) }
func LogDebugf(format string, args ...any) { logAt(types.LogLevelDebug, fmt.Sprintf(format, args...)) }
func LogInfof(format string, args ...any)  { logAt(types.LogLevelInfo, fmt.Sprintf(format, args...)) }
func LogWarnf(format string, args ...any)  { logAt(types.LogLevelWarn, fmt.Sprintf(format, args...)) }
func LogErrorf(format string, args ...any) { logAt(types.LogLevelError, fmt.Sprintf(format, args...)) }
func LogCriticalf(format string, args ...any) {
	logAt(types.LogLevelCritical, fmt.Sprintf(format, args...))
}

// GetLogLevel returns the host's log level, so a plugin can skip building
// messages the host would discard.
func GetLogLevel() (types.LogLevel, error) {
	l, st := host().GetLogLevel()
	return l, statusErr("proxy_get_log_level", st)
}
