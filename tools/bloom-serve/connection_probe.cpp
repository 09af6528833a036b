#include "tools/bloom-serve/connection_probe.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace bloom::serve_tool {
namespace {

// The peer of socket `fd` as httplib spells a remote address (inet_ntop's
// text; an IPv4-mapped IPv6 peer as its IPv4 address) and its port.
bool PeerOf(int fd, std::string& addr, int& port) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return false;
  char text[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) == nullptr) return false;
    port = ntohs(in->sin_port);
  } else if (storage.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text)) == nullptr) return false;
    port = ntohs(in6->sin6_port);
  } else {
    return false;
  }
  addr = text;
  return true;
}

bool SameAddress(const std::string& peer, const std::string& wanted) {
  if (peer == wanted) return true;
  const std::string mapped = "::ffff:";
  return peer.compare(0, mapped.size(), mapped) == 0 && peer.substr(mapped.size()) == wanted;
}

}  // namespace

ConnectionProbe ConnectionProbe::ForPeer(const std::string& remote_addr, int remote_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return ConnectionProbe(-1);
  int found = -1;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0') continue;  // "." and ".."
    struct stat st {};
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    std::string addr;
    int port = -1;
    if (PeerOf(static_cast<int>(fd), addr, port) && port == remote_port &&
        SameAddress(addr, remote_addr)) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
  return ConnectionProbe(found);
}

bool ConnectionProbe::PeerClosed() const {
  if (fd_ < 0) return false;
  char byte;
  const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;  // orderly shutdown: end of stream
  if (n > 0) return false;
  return errno == ECONNRESET || errno == ENOTCONN || errno == EPIPE;
}

}  // namespace bloom::serve_tool
