package intern

import (
	"strings"
	"testing"
	"unsafe"
)

func TestInternedStringsShareOneCopy(t *testing.T) {
	a := strings.Repeat("mirror.linkerd.io/", 2)
	b := strings.Clone(a)
	if unsafe.StringData(a) == unsafe.StringData(b) {
		t.Fatal("test setup: clones share storage")
	}
	if unsafe.StringData(String(a)) != unsafe.StringData(String(b)) {
		t.Fatal("two equal strings interned to different copies")
	}
}

func TestMapKeepsContentAndNil(t *testing.T) {
	if Map(nil) != nil {
		t.Fatal("Map(nil) is not nil")
	}
	in := map[string]string{"a": "1", "b": ""}
	out := Map(in)
	if len(out) != 2 || out["a"] != "1" || out["b"] != "" {
		t.Fatalf("Map(%v) = %v", in, out)
	}
}
