// Process spawning for the worker's stdio MCP backends: the few glibc calls Swift cannot reach
// because they are GNU extensions (pipe2, closefrom file actions, POSIX_SPAWN_SETSID) or macros
// (the wait status decoders).
#ifndef MCPGW_CPROCESSSPAWN_H
#define MCPGW_CPROCESSSPAWN_H

#include <sys/types.h>

/// pipe2(fds, O_CLOEXEC): both ends close on exec, so no other child inherits them.
/// Returns 0, or the errno.
int mcpgw_pipe_cloexec(int fds[2]);

/// Starts `path` with `argv` and `envp` in a new session (so it leads its own process group),
/// with `stdin_fd`, `stdout_fd`, `stderr_fd` as its 0, 1, 2, every other descriptor closed, an
/// empty signal mask and default signal dispositions. Returns 0 and sets `*pid`, or the errno.
int mcpgw_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                int stdin_fd, int stdout_fd, int stderr_fd);

/// Blocks until `pid` has exited without reaping it (waitid with WNOWAIT), so that its pid and
/// process group id cannot be reused while the caller signals the rest of its group.
/// Returns 0, or the errno.
int mcpgw_wait_exited(pid_t pid);

/// Reaps `pid` (blocking waitpid). Sets `*exit_code` to the exit status, or -1 when it was
/// killed, and `*signal_number` to the signal that killed it, or 0. Returns 0, or the errno.
int mcpgw_reap(pid_t pid, int *exit_code, int *signal_number);

#endif
