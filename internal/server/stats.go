package server

// OpenConnections is the number of client connections served now: HTTP/1.1
// ones (TLS or not, idle keep-alive ones included) and HTTP/2 ones. It is
// for metrics (nginx's "active" connections).
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	n := len(s.h2conns)
	s.mu.Unlock()
	return n + int(s.fast.GetCurrentConcurrency())
}
