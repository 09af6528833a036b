// Whether the client of a request still in flight has gone, for requests
// answered only at their end (non-streamed): a streamed request notices a
// closed connection when a write fails or the socket stops being writable,
// but a request that writes nothing until it ends has nothing to fail.
// cpp-httplib 0.11 hands a handler no socket, so the probe finds it: the
// process's socket whose peer is the request's remote address and port (a
// TCP connection's peer is unique while it lives, and the handler runs
// while httplib holds it open). A probe that finds no socket never reports
// a close; the request's timeout still bounds it.
#pragma once

#include <string>

namespace bloom::serve_tool {

class ConnectionProbe {
 public:
  static ConnectionProbe ForPeer(const std::string& remote_addr, int remote_port);

  bool found() const { return fd_ >= 0; }
  // True once the peer has closed its side (a peek reads end of stream) or
  // reset the connection. Bytes waiting (a pipelined request) mean alive.
  bool PeerClosed() const;

 private:
  explicit ConnectionProbe(int fd) : fd_(fd) {}
  int fd_ = -1;  // not owned: httplib closes it
};

}  // namespace bloom::serve_tool
