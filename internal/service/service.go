// Package service tells systemd how a daemon is doing (Type=notify units):
// READY once it does its job, STOPPING when it drains, STATUS lines for
// `systemctl status`, and WATCHDOG pings while it is alive. Every call is a
// no-op when the process was not started by systemd (NOTIFY_SOCKET unset).
package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Ready tells systemd that start-up is over; status is shown by
// `systemctl status`.
func Ready(log *slog.Logger, status string) {
	notify(log, daemon.SdNotifyReady+"\nSTATUS="+status)
}

// Stopping tells systemd the daemon is draining, so `systemctl status` says
// so while in-flight data is acknowledged.
func Stopping(log *slog.Logger, status string) {
	notify(log, daemon.SdNotifyStopping+"\nSTATUS="+status)
}

// Status updates the line `systemctl status` shows.
func Status(log *slog.Logger, status string) {
	notify(log, "STATUS="+status)
}

// Watchdog pings systemd at half the unit's WatchdogSec for as long as alive
// reports true, until ctx is done. When alive turns false the pings stop and
// systemd restarts the daemon after WatchdogSec (Restart=on-failure). It
// returns at once when the unit has no watchdog.
func Watchdog(ctx context.Context, log *slog.Logger, alive func() bool) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog settings unreadable; not pinging", "error", err)
		return
	}
	if interval <= 0 {
		return
	}
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	for {
		if alive() {
			notify(log, daemon.SdNotifyWatchdog)
		} else {
			log.Error("not alive; withholding the systemd watchdog ping so the service is restarted")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func notify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("systemd notification failed", "error", err)
	}
}

// Lifecycle ties a daemon's run to systemd: STOPPING when ctx is done,
// READY (and from then on watchdog pings) when the daemon says so.
type Lifecycle struct {
	ctx   context.Context
	log   *slog.Logger
	alive func() bool
	wg    sync.WaitGroup
}

// Start begins watching ctx; alive is polled for the watchdog once ready.
// Call Wait after ctx is done.
func Start(ctx context.Context, log *slog.Logger, alive func() bool) *Lifecycle {
	l := &Lifecycle{ctx: ctx, log: log, alive: alive}
	l.wg.Go(func() {
		<-ctx.Done()
		Stopping(log, "stopping: draining in-flight data")
	})
	return l
}

// Ready sends READY and starts the watchdog pings. Call it at most once.
func (l *Lifecycle) Ready(status string) {
	Ready(l.log, status)
	l.wg.Go(func() { Watchdog(l.ctx, l.log, l.alive) })
}

// Wait returns once ctx is done and the goroutines Start and Ready began
// have returned.
func (l *Lifecycle) Wait() { l.wg.Wait() }
