package benchmark

import (
	"os"
	"testing"
)

func TestReadUsageOfThisProcess(t *testing.T) {
	u, err := readUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSSBytes <= 0 || u.PeakRSSBytes < u.RSSBytes {
		t.Errorf("RSS %d, peak %d: want 0 < RSS <= peak", u.RSSBytes, u.PeakRSSBytes)
	}
}

func TestProcFieldsKeepsTheFirstOfARepeatedKey(t *testing.T) {
	path := t.TempDir() + "/cpuinfo"
	data := "processor\t: 0\nmodel name\t: First CPU\n\nprocessor\t: 1\nmodel name\t: Second CPU\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := procFields(path)
	if err != nil {
		t.Fatal(err)
	}
	if got["model name"] != "First CPU" || got["processor"] != "0" {
		t.Errorf("procFields = %v, want the first CPU's fields", got)
	}
}
