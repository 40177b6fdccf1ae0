package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
)

func TestAnOutageOfFailuresIsToldInThreeLines(t *testing.T) {
	var buf bytes.Buffer
	ctx := klog.NewContext(context.Background(), textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(&buf))))
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := &syncFailures{now: func() time.Time { return now }}
	refused := errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
	for i := 0; i < 11021; i++ {
		f.failed(ctx, fmt.Errorf("update Service apps/svc-%d: %w", i, refused))
		now = now.Add(17 * time.Second / 11021)
		f.tick(ctx)
	}
	now = now.Add(time.Minute) // past the summary interval: one more failure summarises
	f.failed(ctx, fmt.Errorf("create Service apps/x: %w", refused))
	now = now.Add(failureQuietAfter)
	f.tick(ctx)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("logged %d lines for 11,022 failures, want 3:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"Syncs are failing", "Syncs still failing", "Syncs no longer failing"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %q, want %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[0], "connection refused") || strings.Contains(lines[0], "svc-0") {
		t.Errorf("first line %q should name the root cause, not one object", lines[0])
	}
	if !strings.Contains(lines[2], "failures=11022") {
		t.Errorf("last line %q should count every failure", lines[2])
	}
}
