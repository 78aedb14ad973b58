package plugintool

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// NormaliseMessage turns a hand-written HTTP/1.1 message (a request or a
// response, as in a .http file) into wire form: head lines end in CRLF,
// and a body without framing gets a Content-Length. what names it in
// errors ("request file req.http").
func NormaliseMessage(msg []byte, what string) ([]byte, error) {
	head, body, ok := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !ok {
		h, b, ok2 := bytes.Cut(msg, []byte("\n\n"))
		if !ok2 {
			h, b = bytes.TrimRight(msg, "\r\n"), nil
		}
		head, body = h, b
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:] // leading blank lines
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: empty message", what)
	}
	framed := false
	for i, l := range lines[1:] {
		name, _, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not a header line (want Name: value)", what, i+2, l)
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length", "transfer-encoding":
			framed = true
		}
	}
	if !framed && len(body) > 0 {
		lines = append(lines, "Content-Length: "+strconv.Itoa(len(body)))
	}
	var out bytes.Buffer
	for _, l := range lines {
		out.WriteString(l)
		out.WriteString("\r\n")
	}
	out.WriteString("\r\n")
	out.Write(body)
	return out.Bytes(), nil
}

// checkRequest parses a normalised request, so a malformed file is an
// error naming it rather than a 400 from the gateway.
func checkRequest(raw []byte, what string) error {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return fmt.Errorf("%s: not an HTTP/1.1 request: %w", what, err)
	}
	req.Body.Close()
	return nil
}

// BuildRequest makes a request message from curl-like parts.
func BuildRequest(method, target string, headers []string, body []byte) ([]byte, error) {
	if method == "" {
		method = "GET"
		if body != nil {
			method = "POST"
		}
	}
	if target == "" {
		target = "/"
	}
	if !strings.HasPrefix(target, "/") {
		return nil, fmt.Errorf("request target %q: want a path such as /anything?x=1", target)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
	hasHost := false
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("header %q: want Name: value", h)
		}
		if strings.EqualFold(strings.TrimSpace(name), "host") {
			hasHost = true
		}
		fmt.Fprintf(&b, "%s: %s\r\n", strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if !hasHost {
		b.WriteString("Host: localhost\r\n")
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes(), nil
}
