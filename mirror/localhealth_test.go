package mirror

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
)

func TestALocalOutageIsToldOnceAndItsEndSyncsEverything(t *testing.T) {
	var buf bytes.Buffer
	ctx := klog.NewContext(context.Background(), textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(&buf))))
	recovered := 0
	h := &localHealth{recovered: func() { recovered++ }}
	refused := errors.New("connect: connection refused")
	h.observe(ctx, nil)
	for range 17 {
		h.observe(ctx, refused)
		if got := h.notReady(); got != "local API server unreachable" {
			t.Fatalf("/ready reason during the outage %q", got)
		}
	}
	h.observe(ctx, nil)
	h.observe(ctx, nil)
	if got := h.notReady(); got != "" {
		t.Errorf("/ready reason after the outage %q", got)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "Local API server unreachable") || !strings.Contains(lines[1], "reachable again") {
		t.Fatalf("want one line at the start and one at the end of the outage, got:\n%s", buf.String())
	}
	if recovered != 1 {
		t.Errorf("recovery synced everything %d times, want once", recovered)
	}
}
