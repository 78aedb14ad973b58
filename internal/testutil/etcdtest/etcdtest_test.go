package etcdtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestClientAgainstServer checks what the etcd provider relies on with the
// client version in go.mod against the installed server (Debian's 3.4):
// KV, a watch from a revision, and a watch below the compacted revision
// failing with ErrCompacted. It also checks Stop/Restart keep the data.
func TestClientAgainstServer(t *testing.T) {
	s := Start(t)
	c := s.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	rev1 := s.Put(c, "/t/a", "1")
	rev2 := s.Put(c, "/t/a", "2")
	got, err := c.Get(ctx, "/t/", clientv3.WithPrefix())
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "2" || got.Header.Revision != rev2 {
		t.Fatalf("get = %+v, %v", got, err)
	}

	// A watch from rev1 replays the second put.
	wctx, wcancel := context.WithCancel(ctx)
	w := c.Watch(wctx, "/t/", clientv3.WithPrefix(), clientv3.WithRev(rev1+1))
	select {
	case wr := <-w:
		if wr.Err() != nil || len(wr.Events) != 1 || string(wr.Events[0].Kv.Value) != "2" {
			t.Fatalf("watch = %+v, %v", wr, wr.Err())
		}
	case <-ctx.Done():
		t.Fatal("no watch event")
	}
	wcancel()

	// Compacting above a watch's start revision cancels it with ErrCompacted.
	s.Put(c, "/t/b", "x")
	if _, err := c.Compact(ctx, rev2+1); err != nil {
		t.Fatalf("compact: %v", err)
	}
	w = c.Watch(ctx, "/t/", clientv3.WithPrefix(), clientv3.WithRev(rev1))
	wr := <-w
	if !errors.Is(wr.Err(), rpctypes.ErrCompacted) || wr.CompactRevision != rev2+1 {
		t.Fatalf("watch below compaction: err %v, compact revision %d", wr.Err(), wr.CompactRevision)
	}

	s.Stop()
	short, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if _, err := c.Get(short, "/t/a"); err == nil {
		t.Fatal("get succeeded with etcd stopped")
	}
	scancel()
	s.Restart()
	got, err = c.Get(ctx, "/t/a")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "2" {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
}
