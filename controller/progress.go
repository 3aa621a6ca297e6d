package controller

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kperf/kperf/controller/report"
)

// Progress reports where a run or sweep is. On a terminal (live) it keeps
// one line up to date on its writer: step i of N, elapsed, ETA and the
// current rate; otherwise it writes one plain line per step. A nil
// *Progress does nothing.
type Progress struct {
	mu      sync.Mutex
	w       io.Writer
	live    bool
	began   time.Time
	total   int
	step    int
	done    int // steps finished
	planned time.Duration
	stepAt  time.Time
	rate    float64
	shown   bool
}

// NewProgress returns a progress reporter writing to w; live redraws one
// line (use it only when w is a terminal).
func NewProgress(w io.Writer, live bool) *Progress {
	return &Progress{w: w, live: live, began: time.Now()}
}

// Step says that step i of total starts, expected to take about planned (0
// when unknown), with the step's settings for the plain line.
func (p *Progress) Step(i, total int, settings string, planned time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.step > 0 && i != p.step {
		p.done++
	}
	p.step, p.total, p.planned, p.stepAt, p.rate = i, total, planned, time.Now(), 0
	if !p.live {
		fmt.Fprintf(p.w, "step %d of %d: %s\n", i, total, settings)
		return
	}
	p.draw()
}

// Note prints a plain line (clearing the live line first).
func (p *Progress) Note(line string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
	fmt.Fprintln(p.w, line)
}

// Interval updates the current rate from a merged interval.
func (p *Progress) Interval(iv *report.Interval) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = iv.RecordsPerSec()
	if p.live {
		p.draw()
	}
}

// Clear removes the live line, so that other output can be printed on the
// same terminal; the next update draws it again.
func (p *Progress) Clear() {
	if p == nil || !p.live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// ETA estimates the time left: the mean of finished steps, or the planned
// step length, for the steps not done, less the current step's elapsed time.
func (p *Progress) ETA(now time.Time) time.Duration {
	per := p.planned
	if p.done > 0 {
		per = p.stepAt.Sub(p.began) / time.Duration(p.done)
	}
	if per <= 0 {
		return -1
	}
	left := per*time.Duration(p.total-p.step+1) - now.Sub(p.stepAt)
	return max(left, 0)
}

func (p *Progress) draw() {
	now := time.Now()
	eta := "?"
	if d := p.ETA(now); d >= 0 {
		eta = d.Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r\x1b[Kstep %d of %d  elapsed %v  ETA %s  %.0f records/s", p.step, p.total,
		now.Sub(p.began).Round(time.Second), eta, p.rate)
	p.shown = true
}
