package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/logagent/logagent/bench/internal/benchkit"
	"github.com/logagent/logagent/collect"
)

const filesTopic = "bench_files"

// manyFiles ships -files files of -lines-per-file lines, all under one glob,
// and reports how long that took and what it cost in memory and goroutines.
func manyFiles(ctx context.Context, o options) (err error) {
	began := time.Now()
	e, build, err := setUp(ctx, o, []string{filesTopic}, !o.kafkaDisk)
	if err != nil {
		return err
	}
	defer func() { e.close(err != nil) }()

	dir := filepath.Join(e.Dir, "many")
	prog.Logf("writing %d files of %d lines", o.files, o.linesPerFile)
	var size int64
	for i := range o.files {
		name := fmt.Sprintf("app-%05d", i)
		n, err := writeLogFile(filepath.Join(dir, name+".log"), o.linesPerFile, name+" ")
		if err != nil {
			return err
		}
		size += n
	}
	load := benchkit.LoadAvg()
	limit := "the agent's default"
	if o.maxOpenFiles > 0 {
		limit = fmt.Sprint(o.maxOpenFiles)
	}
	title := fmt.Sprintf("%d files × %d lines (%.1f MB), one glob, max_open_files %s", o.files, o.linesPerFile, float64(size)/1e6, limit)
	runs := []struct{ name, bin, label string }{{"agent-files", "logagent", "this tree"}}
	if o.before != "" {
		runs = append([]struct{ name, bin, label string }{{"before-files", "logagent-before", o.before}}, runs...)
	}
	for _, run := range runs {
		r, err := e.shipWithAgent(ctx, run.name, filepath.Join(e.Bin, run.bin),
			[]collect.Entry{{Path: filepath.Join(dir, "*.log"), Topic: filesTopic}}, maxOpenFilesYAML(o), int64(o.files*o.linesPerFile))
		if err != nil {
			return err
		}
		e.reportAgent(many{
			title: title + ", logagent at " + run.label,
			row:   r,
			detail: []string{fmt.Sprintf("per file:          %.1f KiB of peak heap, %.2f goroutines at the peak",
				r.HeapInUse/1024/float64(o.files), r.Goroutines/float64(o.files))},
		}, load, build, time.Since(began))
	}
	return nil
}

func maxOpenFilesYAML(o options) string {
	if o.maxOpenFiles == 0 {
		return ""
	}
	return fmt.Sprintf("files:\n  max_open_files: %d\n", o.maxOpenFiles)
}
