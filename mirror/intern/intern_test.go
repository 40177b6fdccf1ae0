package intern

import (
	"strings"
	"testing"
	"unsafe"

	"k8s.io/apimachinery/pkg/types"
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

func TestUIDsRoundTrip(t *testing.T) {
	for _, u := range []types.UID{"", "0c6a1b4e-8f0e-4d3c-9a3b-000000000001", "0C6A1B4E-8F0E-4D3C-9A3B-000000000001",
		"00000000-0000-0000-0000-000000000000", "not-a-uuid", "0c6a1b4e-8f0e-4d3c-9a3b-00000000000g"} {
		if got := UIDOf(u).Value(); got != u {
			t.Errorf("UIDOf(%q).Value() = %q", u, got)
		}
	}
	if c := UIDOf("0c6a1b4e-8f0e-4d3c-9a3b-000000000001"); c.text != "" {
		t.Error("a canonical UUID is kept as text")
	}
}
