/* SPDX-License-Identifier: MIT */
/* Leveled logging to stderr. Messages say what happened and what to do. */
#ifndef VDPA_SHIM_LOG_H
#define VDPA_SHIM_LOG_H

enum vs_log_level {
    VS_LOG_ERROR,
    VS_LOG_WARN,
    VS_LOG_INFO,
    VS_LOG_DEBUG
};

/* The prefix of every line ("vdpa-shim" unless set). */
void vs_log_set_program(const char *name);
void vs_log_set_level(enum vs_log_level level);
enum vs_log_level vs_log_get_level(void);
/* Parses "error", "warn", "info", "debug"; 0 or -EINVAL. */
int vs_log_level_parse(const char *text, enum vs_log_level *level);
/* Under systemd (JOURNAL_STREAM names stderr) every line starts with its
 * syslog priority (<3> error .. <7> debug), so the journal keeps the level. */
void vs_log_detect_journal(void);
void vs_log(enum vs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define vs_err(...)   vs_log(VS_LOG_ERROR, __VA_ARGS__)
#define vs_warn(...)  vs_log(VS_LOG_WARN, __VA_ARGS__)
#define vs_info(...)  vs_log(VS_LOG_INFO, __VA_ARGS__)
#define vs_debug(...) vs_log(VS_LOG_DEBUG, __VA_ARGS__)

#endif
