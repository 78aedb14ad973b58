package redistest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

// stubT records a Fatalf and stops the helper like testing.T does.
type stubT struct {
	fatal string
	logs  []string
}

type stubFatal struct{}

func (*stubT) Helper()        {}
func (*stubT) Cleanup(func()) {}
func (s *stubT) Logf(f string, a ...any) {
	s.logs = append(s.logs, fmt.Sprintf(f, a...))
}
func (s *stubT) Fatalf(f string, a ...any) {
	s.fatal = fmt.Sprintf(f, a...)
	panic(stubFatal{})
}

// TestRedisRequiredUnderCI: with CI=true and nothing answering on the redis
// port, the helper fails the test (it does not skip, nor start its own)
// and says how to start redis.
func TestRedisRequiredUnderCI(t *testing.T) {
	port := strconv.Itoa(freePort(t)) // nothing listens there
	env := map[string]string{"CI": "true", "HEIMDALL_TEST_REDIS_PORT": port}
	s := &stubT{}
	func() {
		defer func() {
			if r := recover(); r != nil && !errors.Is(asError(r), errStub) {
				panic(r)
			}
		}()
		addr := AddrFor(s, func(k string) string { return env[k] })
		t.Fatalf("AddrFor returned %q without failing", addr)
	}()
	if !strings.Contains(s.fatal, "CI=true and redis-server is not reachable on 127.0.0.1:"+port) ||
		!strings.Contains(s.fatal, "scripts/test-deps.sh") {
		t.Fatalf("failure message %q does not say what is missing and how to start it", s.fatal)
	}
	t.Logf("message: %s", s.fatal)
}

var errStub = errors.New("stub Fatalf")

func asError(r any) error {
	if _, ok := r.(stubFatal); ok {
		return errStub
	}
	return nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
