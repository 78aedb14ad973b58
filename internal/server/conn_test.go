package server

import (
	"errors"
	"testing"
	"time"
)

func TestArmedDeadline(t *testing.T) {
	t0 := time.Now()
	const slack = time.Second
	errSet := errors.New("set failed")
	tests := []struct {
		name string
		// before is the deadline armed first (zero value: none known).
		before, next time.Time
		failFirst    bool
		wantSet      bool
	}{
		{name: "first", next: t0, wantSet: true},
		{name: "later within slack", before: t0, next: t0.Add(slack / 2), wantSet: false},
		{name: "same", before: t0, next: t0, wantSet: false},
		{name: "later by slack", before: t0, next: t0.Add(slack), wantSet: true},
		{name: "earlier", before: t0, next: t0.Add(-time.Millisecond), wantSet: true},
		{name: "clear", before: t0, next: time.Time{}, wantSet: true},
		{name: "set after clear", before: time.Time{}, next: t0, wantSet: true},
		{name: "after a failed set", before: t0, failFirst: true, next: t0, wantSet: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a armed
			fail := tt.failFirst
			calls := 0
			set := func(time.Time) error {
				calls++
				if fail {
					fail = false
					return errSet
				}
				return nil
			}
			if tt.name != "first" {
				err := a.set(set, tt.before, slack)
				if (err != nil) != tt.failFirst {
					t.Fatalf("first set: %v", err)
				}
			}
			calls = 0
			if err := a.set(set, tt.next, slack); err != nil {
				t.Fatal(err)
			}
			if got := calls == 1; got != tt.wantSet {
				t.Fatalf("deadline set on the socket: %v, want %v", got, tt.wantSet)
			}
		})
	}
}
