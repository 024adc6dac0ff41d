// This machine as the ranks of a job see it: the address its peers can reach it at, where
// its process ids mean something, and whether a process of it still runs. Linux, POSIX.
#pragma once
#include <sys/types.h>

#include <string>

namespace lemur::dist {

// This machine's address on the route to `host` (the rendezvous), e.g. "10.0.0.2"; "" when
// `host` does not resolve. Gloo's default resolves the machine's own hostname instead,
// which Debian and container images map to 127.0.0.1 or 127.0.1.1: peers on other machines
// would then dial their own loopback.
std::string local_address_towards(const std::string& host, int port);

// Where this process's pids mean something: the kernel's boot and the pid namespace (two
// containers on one machine share a hostname or a boot, not a pid namespace), else the
// hostname.
std::string process_space();

// Whether a process of this process space still runs: not gone, and not a zombie its
// parent (a launcher: torchrun reaps every few seconds) has yet to collect.
bool process_alive(pid_t pid);

}  // namespace lemur::dist
