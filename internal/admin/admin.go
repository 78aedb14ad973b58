// Package admin is the APISIX Admin API (v3 response shapes) for the
// traditional deployment role: routes and upstreams are read from and
// written to etcd under the configured prefix, validated by package config
// with the same checks and messages as apisix.yaml. It never touches the
// router: every gateway, this one included, picks changes up through its
// etcd watch.
//
// Security, in this order, before anything else is read: the TCP peer
// address must be in deployment.admin.allow_admin (X-Forwarded-For and
// X-Real-IP are never looked at, CVE-2022-24112); the X-API-KEY header must
// equal one of deployment.admin.admin_key (compared in constant time; the
// key is never taken from the query string or a cookie); a viewer key may
// only read. Bodies are capped at MaxBody.
package admin

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/heimdallgw/heimdall/internal/config"
	etcdstore "github.com/heimdallgw/heimdall/internal/store/etcd"
)

// Prefix is where the Admin API lives, as in APISIX.
const Prefix = "/apisix/admin"

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// Options configures a Server.
type Options struct {
	Main   *config.Main
	Client *clientv3.Client
	// Logger receives refused requests and etcd failures; nil discards.
	Logger *slog.Logger
	// Now is the clock for create_time / update_time; default time.Now.
	Now func() time.Time
	// Cache, when set, answers GETs while etcd is unreachable, with the
	// objects this node serves (header X-Heimdall-Stale: 1). Writes still
	// need etcd (503).
	Cache Cache
}

// Cache is the provider's view of the objects in use.
type Cache interface {
	Objects(kind string) []etcdstore.Object
}

// StaleHeader marks an answer served from the cache while etcd is down.
const StaleHeader = "X-Heimdall-Stale"

// stale wraps an answer built from the cache.
type stale struct{ body any }

// Server is the Admin API handler.
type Server struct {
	main    *config.Main
	cli     *clientv3.Client
	prefix  string // etcd prefix, without a trailing slash
	keys    []config.AdminKey
	allow   []netip.Prefix
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
	cache   Cache
}

// New returns the handler. Serve it on its own listener
// (deployment.admin.admin_listen).
func New(opts Options) *Server {
	s := &Server{
		main:    opts.Main,
		cli:     opts.Client,
		prefix:  opts.Main.Deployment.Etcd.Prefix,
		keys:    opts.Main.Deployment.Admin.Keys,
		allow:   opts.Main.Deployment.Admin.Allow,
		timeout: opts.Main.Deployment.Etcd.Timeout,
		log:     opts.Logger,
		now:     opts.Now,
		cache:   opts.Cache,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// kind describes one object type of the API.
type kind struct {
	name   string // etcd directory and URL segment
	single string // "route", for messages
	// check validates a complete object stored under id.
	check func(s *Server, ctx context.Context, id string, obj map[string]any) (int, string)
	// inUse reports why the object may not be deleted ("" when it may).
	inUse func(s *Server, ctx context.Context, id string) (string, error)
}

var kinds = map[string]*kind{
	config.KindRoutes:    {name: config.KindRoutes, single: "route", check: checkRoute},
	config.KindUpstreams: {name: config.KindUpstreams, single: "upstream", check: checkUpstream, inUse: upstreamInUse},
	config.KindServices:  {name: config.KindServices, single: "service", check: checkService, inUse: serviceInUse},
	config.KindPluginConfigs: {name: config.KindPluginConfigs, single: "plugin config", check: checkPluginConfig,
		inUse: pluginConfigInUse},
}

// validID is APISIX's id schema.
var validID = regexp.MustCompile(`^[a-zA-Z0-9-_.]{1,64}$`)

// errorBody is APISIX's error shape.
type errorBody struct {
	ErrorMsg string `json:"error_msg"`
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if code, msg := s.authorize(r); code != 0 {
		s.log.Warn("admin request refused", "peer", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "status", code, "reason", msg)
		writeJSON(w, code, errorBody{msg})
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix+"/")
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody{"not found; the Admin API is under " + Prefix + "/"})
		return
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if len(parts) == 2 && parts[0] == "plugins" && parts[1] == "list" && r.Method == http.MethodGet {
		// The plugins a route may name: built-in, then config.yaml's wasm plugins.
		writeJSON(w, http.StatusOK, s.main.PluginNames())
		return
	}
	k, ok := kinds[parts[0]]
	if !ok {
		msg := fmt.Sprintf("unsupported resource type %q; Heimdall's Admin API serves: %s", parts[0], strings.Join(config.SupportedKinds, ", "))
		writeJSON(w, http.StatusNotFound, errorBody{msg})
		return
	}
	id, sub := "", ""
	if len(parts) > 1 {
		id = parts[1]
		if !validID.MatchString(id) {
			writeJSON(w, http.StatusBadRequest, errorBody{fmt.Sprintf("invalid %s id %q; allowed: 1 to 64 of a-z A-Z 0-9 - _ .", k.single, id)})
			return
		}
	}
	if len(parts) > 2 {
		sub = strings.Join(parts[2:], "/")
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	var (
		code int
		body any
	)
	switch {
	case r.Method == http.MethodGet && id == "":
		code, body = s.list(ctx, r, k)
	case r.Method == http.MethodGet && sub == "":
		code, body = s.get(ctx, k, id)
	case r.Method == http.MethodPut && sub == "":
		code, body = s.put(ctx, r, k, id)
	case r.Method == http.MethodPost && id == "":
		code, body = s.post(ctx, r, k)
	case r.Method == http.MethodPatch && id != "":
		code, body = s.patch(ctx, r, k, id, sub)
	case r.Method == http.MethodDelete && id != "" && sub == "":
		code, body = s.delete(ctx, k, id)
	default:
		w.Header().Set("Allow", "GET, PUT, POST, PATCH, DELETE")
		code, body = http.StatusMethodNotAllowed, errorBody{fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path)}
	}
	if st, ok := body.(stale); ok {
		w.Header().Set(StaleHeader, "1")
		body = st.body
	}
	writeJSON(w, code, body)
}

// authorize checks the peer address, then the key and its role. It
// returns 0 when the request may proceed.
func (s *Server) authorize(r *http.Request) (int, string) {
	// The TCP peer only: headers are written by the client.
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !s.allowed(ap.Addr().Unmap()) {
		return http.StatusForbidden, "client address not allowed by deployment.admin.allow_admin"
	}
	given := r.Header.Get("X-API-KEY")
	var role string
	for _, k := range s.keys {
		// Compare against every key, in constant time, so timing tells
		// nothing about which or how much matched.
		if subtle.ConstantTimeCompare([]byte(given), []byte(k.Key)) == 1 && given != "" {
			role = k.Role
		}
	}
	if role == "" {
		return http.StatusUnauthorized, "failed to check token"
	}
	if role == config.AdminRoleViewer && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return http.StatusForbidden, "invalid method for role viewer"
	}
	return 0, ""
}

func (s *Server) allowed(a netip.Addr) bool {
	for _, p := range s.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// item is one object as the Admin API shows it.
type item struct {
	Key           string          `json:"key"`
	Value         json.RawMessage `json:"value"`
	CreatedIndex  int64           `json:"createdIndex"`
	ModifiedIndex int64           `json:"modifiedIndex"`
}

func (s *Server) key(k *kind, id string) string { return s.prefix + "/" + k.name + "/" + id }

func rawValue(v []byte) json.RawMessage {
	if json.Valid(v) {
		return v
	}
	q, _ := json.Marshal(string(v)) // not JSON (written by something else): shown as a string
	return q
}

func (s *Server) list(ctx context.Context, r *http.Request, k *kind) (int, any) {
	var list []item
	resp, err := s.cli.Get(ctx, s.prefix+"/"+k.name+"/", clientv3.WithPrefix())
	switch {
	case err == nil:
		list = make([]item, 0, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			if strings.Contains(strings.TrimPrefix(string(kv.Key), s.prefix+"/"+k.name+"/"), "/") {
				continue
			}
			list = append(list, item{string(kv.Key), rawValue(kv.Value), kv.CreateRevision, kv.ModRevision})
		}
	case s.cache != nil:
		s.log.Warn("admin: etcd unreachable; answering from the objects in use", "op", "list", "kind", k.name, "err", err)
		for _, o := range s.cache.Objects(k.name) {
			list = append(list, item{o.Key, rawValue(o.Value), o.CreateRevision, o.ModRevision})
		}
	default:
		return s.unavailable("list", k.name, err)
	}
	slices.SortStableFunc(list, func(a, b item) int { return int(a.CreatedIndex - b.CreatedIndex) })
	total := len(list)
	q := r.URL.Query()
	if q.Has("page") && q.Has("page_size") {
		size, err := strconv.Atoi(q.Get("page_size"))
		if err != nil || size < 10 || size > 500 {
			return http.StatusBadRequest, errorBody{"page_size must be between 10 and 500"}
		}
		page, err := strconv.Atoi(q.Get("page"))
		if err != nil || page < 1 {
			page = 1
		}
		from := min((page-1)*size, total)
		list = list[from:min(from+size, total)]
	}
	if list == nil {
		list = []item{}
	}
	body := map[string]any{"list": list, "total": total}
	if err != nil {
		return http.StatusOK, stale{body}
	}
	return http.StatusOK, body
}

func (s *Server) get(ctx context.Context, k *kind, id string) (int, any) {
	resp, err := s.cli.Get(ctx, s.key(k, id))
	if err != nil && s.cache != nil {
		s.log.Warn("admin: etcd unreachable; answering from the objects in use", "op", "get", "key", s.key(k, id), "err", err)
		for _, o := range s.cache.Objects(k.name) {
			if o.Key == s.key(k, id) {
				return http.StatusOK, stale{item{o.Key, rawValue(o.Value), o.CreateRevision, o.ModRevision}}
			}
		}
		return http.StatusNotFound, stale{map[string]string{"message": "Key not found"}}
	}
	if err != nil {
		return s.unavailable("get", s.key(k, id), err)
	}
	if len(resp.Kvs) == 0 {
		return http.StatusNotFound, map[string]string{"message": "Key not found"}
	}
	kv := resp.Kvs[0]
	return http.StatusOK, item{string(kv.Key), rawValue(kv.Value), kv.CreateRevision, kv.ModRevision}
}

// readObject reads a JSON object body (capped at MaxBody).
func readObject(r *http.Request) (map[string]any, int, string) {
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, http.StatusBadRequest, "cannot read the request body: " + err.Error()
	}
	if len(data) > MaxBody {
		return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", MaxBody)
	}
	v, err := decodeJSON(data)
	if err != nil {
		return nil, http.StatusBadRequest, "invalid request body: " + err.Error()
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, http.StatusBadRequest, "invalid request body: expected a JSON object"
	}
	return obj, 0, ""
}

func decodeJSON(data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty; expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

func (s *Server) put(ctx context.Context, r *http.Request, k *kind, id string) (int, any) {
	obj, code, msg := readObject(r)
	if code != 0 {
		return code, errorBody{msg}
	}
	if v, ok := obj["id"]; ok && fmt.Sprint(v) != id {
		return http.StatusBadRequest, errorBody{fmt.Sprintf("wrong %s id: the body says %v, the path %s", k.single, v, id)}
	}
	key := s.key(k, id)
	prev, err := s.cli.Get(ctx, key)
	if err != nil {
		return s.unavailable("put", key, err)
	}
	now := s.now().Unix()
	obj["id"] = id
	obj["create_time"], obj["update_time"] = now, now
	if len(prev.Kvs) > 0 {
		if old, err := decodeJSON(prev.Kvs[0].Value); err == nil {
			if m, ok := old.(map[string]any); ok && m["create_time"] != nil {
				obj["create_time"] = m["create_time"]
			}
		}
	}
	return s.store(ctx, k, id, obj, len(prev.Kvs) == 0, 0)
}

func (s *Server) post(ctx context.Context, r *http.Request, k *kind) (int, any) {
	obj, code, msg := readObject(r)
	if code != 0 {
		return code, errorBody{msg}
	}
	if _, ok := obj["id"]; ok {
		return http.StatusBadRequest, errorBody{fmt.Sprintf("wrong %s id, do not need it (POST generates one; PUT %s/%s/<id> to choose it)", k.single, Prefix, k.name)}
	}
	now := s.now().Unix()
	obj["create_time"], obj["update_time"] = now, now
	for range 5 {
		// An id APISIX-style: the etcd revision, zero-padded to 20 digits,
		// so ids sort by creation. Creation is conditional on the key
		// being new; a concurrent POST that took the id makes us retry.
		resp, err := s.cli.Get(ctx, s.prefix+"/"+k.name, clientv3.WithCountOnly())
		if err != nil {
			return s.unavailable("post", k.name, err)
		}
		id := fmt.Sprintf("%020d", resp.Header.Revision+1)
		obj["id"] = id
		code, body := s.store(ctx, k, id, obj, true, -1)
		if code != http.StatusConflict {
			return code, body
		}
	}
	return http.StatusServiceUnavailable, errorBody{"could not allocate an id; retry"}
}

func (s *Server) patch(ctx context.Context, r *http.Request, k *kind, id, sub string) (int, any) {
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil || len(data) > MaxBody {
		return http.StatusRequestEntityTooLarge, errorBody{fmt.Sprintf("request body larger than %d bytes", MaxBody)}
	}
	patch, err := decodeJSON(data)
	if err != nil {
		return http.StatusBadRequest, errorBody{"invalid request body: " + err.Error()}
	}
	key := s.key(k, id)
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return s.unavailable("patch", key, err)
	}
	if len(resp.Kvs) == 0 {
		return http.StatusNotFound, map[string]string{"message": "Key not found"}
	}
	old, err := decodeJSON(resp.Kvs[0].Value)
	obj, ok := old.(map[string]any)
	if err != nil || !ok {
		return http.StatusBadRequest, errorBody{fmt.Sprintf("the stored %s is not a JSON object; replace it with PUT", k.single)}
	}
	if sub == "" {
		p, ok := patch.(map[string]any)
		if !ok {
			return http.StatusBadRequest, errorBody{"invalid configuration"}
		}
		if v, ok := p["id"]; ok && fmt.Sprint(v) != id {
			return http.StatusBadRequest, errorBody{fmt.Sprintf("wrong %s id", k.single)}
		}
		merge(obj, p)
	} else if msg := setPath(obj, strings.Split(sub, "/"), patch); msg != "" {
		return http.StatusBadRequest, errorBody{msg}
	}
	obj["id"] = id
	obj["update_time"] = s.now().Unix()
	// Conditional on the version read: a concurrent write makes this 409
	// rather than silently losing one of the two.
	return s.store(ctx, k, id, obj, false, resp.Kvs[0].ModRevision)
}

// merge applies an RFC 7386 merge patch: objects merge recursively, null
// removes a field, anything else replaces it.
func merge(dst, patch map[string]any) {
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, pm)
				continue
			}
		}
		dst[k] = v
	}
}

// setPath replaces the field at path (sub-path PATCH, /routes/1/plugins);
// null removes it.
func setPath(obj map[string]any, path []string, v any) string {
	for i, p := range path {
		if p == "" {
			return "invalid sub path"
		}
		if i == len(path)-1 {
			if v == nil {
				delete(obj, p)
			} else {
				obj[p] = v
			}
			return ""
		}
		next, ok := obj[p].(map[string]any)
		if !ok {
			if obj[p] != nil {
				return fmt.Sprintf("invalid sub path: %s is not an object", strings.Join(path[:i+1], "/"))
			}
			next = map[string]any{}
			obj[p] = next
		}
		obj = next
	}
	return ""
}

// store validates obj and writes it. create means the key must not exist;
// modRev > 0 means it must still be at that revision.
func (s *Server) store(ctx context.Context, k *kind, id string, obj map[string]any, create bool, modRev int64) (int, any) {
	if code, msg := k.check(s, ctx, id, obj); code != 0 {
		return code, errorBody{msg}
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return http.StatusBadRequest, errorBody{"cannot encode the object: " + err.Error()}
	}
	key := s.key(k, id)
	var resp *clientv3.TxnResponse
	switch {
	case modRev > 0:
		resp, err = s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).Then(clientv3.OpPut(key, string(data))).Commit()
	case modRev < 0: // POST: the key must be new
		resp, err = s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(clientv3.OpPut(key, string(data))).Commit()
	default:
		resp, err = s.cli.Txn(ctx).Then(clientv3.OpPut(key, string(data))).Commit()
	}
	if err != nil {
		return s.unavailable("write", key, err)
	}
	if !resp.Succeeded {
		return http.StatusConflict, errorBody{fmt.Sprintf("%s %s changed while this request was handled; retry", k.single, id)}
	}
	got, err := s.cli.Get(ctx, key, clientv3.WithRev(resp.Header.Revision))
	if err != nil || len(got.Kvs) == 0 {
		return http.StatusOK, map[string]any{"key": key, "value": json.RawMessage(data)}
	}
	code := http.StatusOK
	if create {
		code = http.StatusCreated
	}
	kv := got.Kvs[0]
	return code, item{key, rawValue(kv.Value), kv.CreateRevision, kv.ModRevision}
}

func (s *Server) delete(ctx context.Context, k *kind, id string) (int, any) {
	key := s.key(k, id)
	if k.inUse != nil {
		why, err := k.inUse(s, ctx, id)
		if err != nil {
			return s.unavailable("delete", key, err)
		}
		if why != "" {
			return http.StatusBadRequest, errorBody{why}
		}
	}
	resp, err := s.cli.Delete(ctx, key)
	if err != nil {
		return s.unavailable("delete", key, err)
	}
	if resp.Deleted == 0 {
		return http.StatusNotFound, map[string]string{"message": "Key not found"}
	}
	return http.StatusOK, map[string]string{"deleted": "1", "key": key}
}

func (s *Server) unavailable(op, what string, err error) (int, any) {
	s.log.Error("admin: etcd request failed", "op", op, "key", what, "err", err)
	return http.StatusServiceUnavailable, errorBody{fmt.Sprintf("etcd unavailable: %v", err)}
}

// schemaError turns config errors into one message, the same text as for
// apisix.yaml without the position: "uri: uri \"a\" must start with /; ...".
func schemaError(err error) string {
	var errs config.Errors
	if !errors.As(err, &errs) {
		return err.Error()
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		if e.Path != "" {
			msgs[i] = e.Path + ": " + e.Msg
		} else {
			msgs[i] = e.Msg
		}
	}
	return strings.Join(msgs, "\n")
}

func checkRoute(s *Server, ctx context.Context, id string, obj map[string]any) (int, string) {
	data, _ := json.Marshal(obj)
	rt, err := config.ParseRouteObject("", id, data, s.main)
	if err != nil {
		return http.StatusBadRequest, schemaError(err)
	}
	for _, ref := range []struct{ kind, what, id string }{
		{config.KindUpstreams, "upstream info by upstream id", rt.UpstreamID},
		{config.KindServices, "service info by service id", rt.ServiceID},
		{config.KindPluginConfigs, "plugin config info by plugin config id", rt.PluginConfigID},
	} {
		if code, msg := s.exists(ctx, ref.kind, ref.what, ref.id); code != 0 {
			return code, msg
		}
	}
	return 0, ""
}

// exists checks a reference with APISIX's message.
func (s *Server) exists(ctx context.Context, kind, what, id string) (int, string) {
	if id == "" {
		return 0, ""
	}
	resp, err := s.cli.Get(ctx, s.prefix+"/"+kind+"/"+id, clientv3.WithCountOnly())
	if err != nil {
		return http.StatusServiceUnavailable, "etcd unavailable: " + err.Error()
	}
	if resp.Count == 0 {
		return http.StatusBadRequest, fmt.Sprintf("failed to fetch %s [%s], response code: 404", what, id)
	}
	return 0, ""
}

func checkUpstream(s *Server, _ context.Context, id string, obj map[string]any) (int, string) {
	data, _ := json.Marshal(obj)
	if _, err := config.ParseUpstreamObject("", id, data); err != nil {
		return http.StatusBadRequest, schemaError(err)
	}
	return 0, ""
}

func checkService(s *Server, ctx context.Context, id string, obj map[string]any) (int, string) {
	data, _ := json.Marshal(obj)
	svc, err := config.ParseServiceObject("", id, data, s.main)
	if err != nil {
		return http.StatusBadRequest, schemaError(err)
	}
	return s.exists(ctx, config.KindUpstreams, "upstream info by upstream id", svc.UpstreamID)
}

func checkPluginConfig(s *Server, _ context.Context, id string, obj map[string]any) (int, string) {
	data, _ := json.Marshal(obj)
	if _, err := config.ParsePluginConfigObject("", id, data, s.main); err != nil {
		return http.StatusBadRequest, schemaError(err)
	}
	return 0, ""
}

// usedBy returns the id of the first object of kind whose field is id.
func (s *Server) usedBy(ctx context.Context, kind, field, id string) (string, error) {
	resp, err := s.cli.Get(ctx, s.prefix+"/"+kind+"/", clientv3.WithPrefix())
	if err != nil {
		return "", err
	}
	for _, kv := range resp.Kvs {
		var o map[string]any
		if json.Unmarshal(kv.Value, &o) == nil && o[field] != nil && fmt.Sprint(o[field]) == id {
			return fmt.Sprint(o["id"]), nil
		}
	}
	return "", nil
}

func upstreamInUse(s *Server, ctx context.Context, id string) (string, error) {
	for _, user := range []struct{ kind, single string }{{config.KindRoutes, "route"}, {config.KindServices, "service"}} {
		by, err := s.usedBy(ctx, user.kind, "upstream_id", id)
		if err != nil || by != "" {
			return fmt.Sprintf("can not delete this upstream, %s [%s] is still using it now", user.single, by), err
		}
	}
	return "", nil
}

func serviceInUse(s *Server, ctx context.Context, id string) (string, error) {
	by, err := s.usedBy(ctx, config.KindRoutes, "service_id", id)
	if err != nil || by == "" {
		return "", err
	}
	return fmt.Sprintf("can not delete this service directly, route [%s] is still using it now", by), nil
}

func pluginConfigInUse(s *Server, ctx context.Context, id string) (string, error) {
	by, err := s.usedBy(ctx, config.KindRoutes, "plugin_config_id", id)
	if err != nil || by == "" {
		return "", err
	}
	return fmt.Sprintf("can not delete this plugin config, route [%s] is still using it now", by), nil
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		code, data = http.StatusInternalServerError, []byte(`{"error_msg":"cannot encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(code)
	w.Write(append(data, '\n'))
}

// Listen opens the Admin API listener of m.
func Listen(m *config.Main) (net.Listener, error) {
	l, err := net.Listen("tcp", m.Deployment.Admin.Listen.Addr())
	if err != nil {
		return nil, fmt.Errorf("%s: deployment.admin.admin_listen: %w", m.File, err)
	}
	return l, nil
}
