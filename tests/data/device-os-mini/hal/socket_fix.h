#define SOCKET_FIX 0
