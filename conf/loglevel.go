package conf

import "log/slog"

// SlogLevel is a validated log_level (debug, info, warn, error) as a slog
// level; anything else is info.
func SlogLevel(name string) slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(name)) != nil {
		return slog.LevelInfo
	}
	return l
}
