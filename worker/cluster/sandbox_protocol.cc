#include "worker/cluster/sandbox_protocol.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace gauntlet::sandbox {

bool SendMessage(int socket, std::string_view bytes, int fd_to_pass) {
  iovec io{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd_to_pass >= 0) {
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &fd_to_pass, sizeof(int));
  }
  ssize_t sent;
  do {
    sent = sendmsg(socket, &message, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent == static_cast<ssize_t>(bytes.size());
}

bool ReceiveMessage(int socket, std::string& bytes, size_t max_bytes, int* received_fd) {
  // Reused between calls: zero-filling megabytes per message would cost
  // more than the message.
  thread_local std::string buffer;
  if (buffer.size() < max_bytes) buffer.resize(max_bytes);
  iovec io{buffer.data(), max_bytes};
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t got;
  do {
    got = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (received_fd) *received_fd = -1;
  if (got <= 0) return false;
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS && received_fd)
      std::memcpy(received_fd, CMSG_DATA(header), sizeof(int));
  }
  bytes.assign(buffer.data(), static_cast<size_t>(got));
  return (message.msg_flags & MSG_TRUNC) == 0;
}

}  // namespace gauntlet::sandbox
