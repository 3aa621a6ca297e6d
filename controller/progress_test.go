package controller

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/kperf/kperf/controller/report"
)

func TestProgressLive(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := NewProgress(&b, true)
	p.Step(1, 4, "agents=1", 10*time.Second)
	p.Interval(&report.Interval{StartS: 0, EndS: 1, Records: 5000})
	out := b.String()
	if !strings.Contains(out, "\r\x1b[Kstep 1 of 4") || !strings.Contains(out, "5000 records/s") {
		t.Fatalf("live line = %q, want step 1 of 4 and the rate", out)
	}
	// Four steps of ~10 s each, just begun: about 40 s left.
	if eta := p.ETA(time.Now()); eta < 39*time.Second || eta > 40*time.Second {
		t.Errorf("ETA = %v, want about 40s", eta)
	}
	b.Reset()
	p.Clear()
	if b.String() != "\r\x1b[K" {
		t.Errorf("Clear wrote %q, want the erase sequence", b.String())
	}
	b.Reset()
	p.Clear()
	if b.Len() != 0 {
		t.Errorf("second Clear wrote %q, want nothing", b.String())
	}
}

func TestProgressPlainAndNil(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := NewProgress(&b, false)
	p.Step(2, 3, "record-size=100", 0)
	p.Interval(&report.Interval{StartS: 0, EndS: 1, Records: 10})
	p.Clear()
	if b.String() != "step 2 of 3: record-size=100\n" {
		t.Errorf("plain output = %q, want one step line", b.String())
	}
	var none *Progress // a nil Progress does nothing
	none.Step(1, 1, "", 0)
	none.Interval(&report.Interval{})
	none.Clear()
	none.Note("x")
}
