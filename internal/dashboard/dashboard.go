// Package dashboard is the read-only web dashboard at /ui/ on the Admin
// listener: routes, upstreams, wasm plugins and their instances, live
// traffic and the last plugin log lines.
//
// The page is plain ES modules and CSS embedded in the binary (no CDN, works
// offline). It reads two endpoints: /ui/api/state (JSON, on demand) and
// /ui/api/stream (server-sent events: a traffic sample every second and
// every new plugin log line). Both need the X-API-KEY header when admin
// keys are set; the page asks for the key once, keeps it in
// sessionStorage and sends it as a header with fetch (the stream is read
// with fetch, not EventSource, which cannot send headers), so the key never
// appears in a URL or an access log. The TCP peer must be in
// deployment.admin.allow_admin, as for the Admin API.
package dashboard

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heimdallgw/heimdall/internal/config"
	"github.com/heimdallgw/heimdall/internal/metrics"
)

// Prefix is where the dashboard is served.
const Prefix = "/ui/"

//go:embed web
var web embed.FS

// Options configures the handler.
type Options struct {
	// Keys are deployment.admin.admin_key; any of them (admin or viewer)
	// may read the dashboard. None: no key is asked.
	Keys []config.AdminKey
	// Allow lists the peer networks allowed (deployment.admin.allow_admin).
	Allow []netip.Prefix
	// State returns what the gateway serves now.
	State func() State
	// Traffic returns the live request totals; nil when metrics are off.
	Traffic func() metrics.Snapshot
	// Logs are the plugin log lines; nil shows none.
	Logs *Ring
	// Tick is the traffic sample interval; default one second.
	Tick time.Duration
}

// State is the gateway's configuration and plugins as the page shows them.
type State struct {
	Version   uint64     `json:"version"`
	Routes    []Route    `json:"routes"`
	Upstreams []Upstream `json:"upstreams"`
	Plugins   []Plugin   `json:"plugins"`
	Metrics   bool       `json:"metrics"` // false: no traffic figures (prometheus export off)
}

// Route is one route.
type Route struct {
	ID       string   `json:"id"`
	Name     string   `json:"name,omitempty"`
	URIs     []string `json:"uris"`
	Methods  []string `json:"methods,omitempty"`
	Hosts    []string `json:"hosts,omitempty"`
	Upstream string   `json:"upstream"` // upstream id, or its nodes when inline
	Plugins  []string `json:"plugins"`  // in the order they run
	Enabled  bool     `json:"enabled"`
}

// Upstream is one named upstream.
type Upstream struct {
	ID    string   `json:"id"`
	Name  string   `json:"name,omitempty"`
	Type  string   `json:"type"`
	Nodes []string `json:"nodes"`
}

// Plugin is one wasm plugin and its instance pool.
type Plugin struct {
	Name     string   `json:"name"`
	File     string   `json:"file"`
	Priority int      `json:"priority"`
	Slots    int      `json:"slots"`
	Busy     int      `json:"busy"`
	Idle     int      `json:"idle"`
	Memory   []uint32 `json:"memory"` // bytes per live, idle instance
	Refused  uint64   `json:"refused"`
	Pending  int64    `json:"http_calls_pending"`
	Routes   []string `json:"routes"` // ids of the routes using it
}

// Handler serves the dashboard under Prefix.
type Handler struct {
	o    Options
	mux  *http.ServeMux
	done chan struct{} // closed by Close: streams end
	once sync.Once
}

// Close ends the open streams (they would otherwise hold a graceful
// shutdown until its deadline); register it with
// http.Server.RegisterOnShutdown.
func (h *Handler) Close() { h.once.Do(func() { close(h.done) }) }

// New returns the handler.
func New(o Options) *Handler {
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	h := &Handler{o: o, mux: http.NewServeMux(), done: make(chan struct{})}
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	h.mux.Handle("GET "+Prefix, http.StripPrefix(Prefix, http.FileServerFS(sub)))
	h.mux.HandleFunc("GET "+Prefix+"api/state", h.state)
	h.mux.HandleFunc("GET "+Prefix+"api/stream", h.stream)
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix, http.StatusFound)
	})
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.allowed(r) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) allowed(r *http.Request) bool {
	if len(h.o.Allow) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range h.o.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// authorized checks X-API-KEY (never a query parameter or cookie).
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if len(h.o.Keys) == 0 {
		return true
	}
	got := []byte(r.Header.Get("X-API-KEY"))
	ok := false
	for _, k := range h.o.Keys {
		if subtle.ConstantTimeCompare(got, []byte(k.Key)) == 1 {
			ok = true
		}
	}
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error_msg":"missing or wrong X-API-KEY"}`)) //nolint:errcheck // client gone
	}
	return ok
}

func (h *Handler) state(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(w, r) {
		return
	}
	s := h.o.State()
	s.Metrics = h.o.Traffic != nil
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s) //nolint:errcheck // client gone
}

// Sample is one traffic event of the stream: totals since start, so the
// page computes rates from consecutive samples and misses nothing when a
// sample is late.
type Sample struct {
	Time     int64     `json:"t"` // unix milliseconds
	Requests uint64    `json:"requests"`
	ByClass  [6]uint64 `json:"by_class"`
	Ingress  uint64    `json:"ingress"`
	Egress   uint64    `json:"egress"`
}

// stream is a server-sent events stream: "traffic" every Tick, "log" for
// each plugin log line (the ring's backlog first).
func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(w, r) {
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(h.o.Tick)
	defer tick.Stop()
	var seq uint64
	send := func(event string, v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return true
	}
	sample := func() bool {
		if h.o.Traffic == nil {
			return true
		}
		s := h.o.Traffic()
		return send("traffic", Sample{Time: time.Now().UnixMilli(), Requests: s.Requests,
			ByClass: s.ByClass, Ingress: s.IngressBytes, Egress: s.EgressBytes})
	}
	if !sample() {
		return
	}
	for {
		var more <-chan struct{}
		if h.o.Logs != nil {
			var lines []Line
			lines, more = h.o.Logs.Since(seq)
			for _, l := range lines {
				if !send("log", l) {
					return
				}
				seq = l.Seq
			}
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		case <-more:
		case <-tick.C:
			if !sample() {
				return
			}
		}
	}
}

// StateOf builds the State of routes and the plugins the gateway loaded.
func StateOf(version uint64, routes *config.Routes, plugins []metrics.Plugin, decl []config.WasmPlugin) State {
	s := State{Version: version, Routes: []Route{}, Upstreams: []Upstream{}, Plugins: []Plugin{}}
	users := map[string][]string{}
	if routes != nil {
		for _, r := range routes.Routes {
			v := Route{ID: r.ID, Name: r.Name, URIs: r.URIs, Methods: r.Methods, Hosts: r.Hosts,
				Enabled: r.Enabled, Plugins: []string{}}
			switch {
			case r.UpstreamID != "":
				v.Upstream = r.UpstreamID
			case r.Upstream != nil:
				v.Upstream = strings.Join(nodes(r.Upstream), ", ")
			}
			if r.ProxyRewrite != nil {
				v.Plugins = append(v.Plugins, config.PluginProxyRewrite)
			}
			for _, w := range r.Wasm {
				v.Plugins = append(v.Plugins, w.Name)
				users[w.Name] = append(users[w.Name], r.ID)
			}
			s.Routes = append(s.Routes, v)
		}
		for _, u := range routes.Upstreams {
			s.Upstreams = append(s.Upstreams, Upstream{ID: u.ID, Name: u.Name, Type: u.Type, Nodes: nodes(u)})
		}
	}
	for i, p := range plugins {
		v := Plugin{Name: p.Name(), Routes: users[p.Name()], Memory: []uint32{}}
		if v.Routes == nil {
			v.Routes = []string{}
		}
		if i < len(decl) {
			v.File, v.Priority = decl[i].File, decl[i].Priority
		}
		for _, st := range p.InstanceStates() {
			v.Slots++
			switch {
			case st.Busy:
				v.Busy++
			case st.Live:
				v.Idle++
				v.Memory = append(v.Memory, st.Memory)
			}
		}
		ns := p.NetworkStats()
		for _, n := range ns.Refused {
			v.Refused += n
		}
		v.Pending = ns.HTTPCallsPending
		s.Plugins = append(s.Plugins, v)
	}
	return s
}

func nodes(u *config.Upstream) []string {
	out := make([]string, 0, len(u.Nodes))
	for _, n := range u.Nodes {
		out = append(out, n.Host+":"+strconv.Itoa(n.Port))
	}
	return out
}
