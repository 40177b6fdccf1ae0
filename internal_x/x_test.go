package x

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
	"unique"
)

func live() uint64 { for i:=0;i<3;i++ {runtime.GC(); time.Sleep(50*time.Millisecond)}; var m runtime.MemStats; runtime.ReadMemStats(&m); return m.Sys - m.HeapReleased - (m.HeapIdle-m.HeapReleased) }

func TestCosts(t *testing.T) {
	const n = 200000
	src := make([]string, n)
	for i := range src { src[i] = fmt.Sprintf("svc-%d-target", i) }
	out := make([]string, n)
	b := live()
	mode := os.Getenv("MODE")
	for i := range src {
		switch mode {
		case "unique": out[i] = unique.Make(src[i]).Value()
		case "copy": out[i] = string([]byte(src[i]))
		}
	}
	a := live()
	t.Logf("%s: %.0f B per string", mode, float64(a-b)/n)
	runtime.KeepAlive(out); runtime.KeepAlive(src)
}
