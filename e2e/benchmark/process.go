package benchmark

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcUsage is what the kernel says one process has used so far.
type ProcUsage struct {
	// CPUSeconds is user plus system time.
	CPUSeconds float64
	// RSSBytes is the resident set now; PeakRSSBytes its high-water mark.
	RSSBytes, PeakRSSBytes int64
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// readUsage reads /proc/<pid>/stat and /proc/<pid>/status.
func readUsage(pid int) (ProcUsage, error) {
	var u ProcUsage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// after its closing parenthesis; utime and stime are fields 14 and 15.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return u, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, stat)
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	u.CPUSeconds = (utime + stime) / clockTicks

	status, err := procFields(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	u.RSSBytes, u.PeakRSSBytes = kib(status["VmRSS"]), kib(status["VmHWM"])
	return u, nil
}

// procFields reads a /proc file of "key: value" lines (status, meminfo,
// cpuinfo) into a map; of a repeated key (cpuinfo's, one per CPU) the first
// value is kept.
func procFields(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		key, value, ok := strings.Cut(line, ":")
		key = strings.TrimSpace(key)
		if _, seen := out[key]; ok && !seen {
			out[key] = strings.TrimSpace(value)
		}
	}
	return out, nil
}

func kib(field string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(field), " kB"), 10, 64)
	return n * 1024
}
