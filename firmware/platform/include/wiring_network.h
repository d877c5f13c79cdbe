/* The network part of the Wiring API: IPAddress, TCPClient, TCPServer, WiFi, Particle. */
#ifndef PHOTONDBG_WIRING_NETWORK_H
#define PHOTONDBG_WIRING_NETWORK_H
#include "socket_hal.h"
#include "wiring_print.h"

class IPAddress : public Printable {
public:
    IPAddress() : a_{0, 0, 0, 0} {}
    IPAddress(uint8_t a, uint8_t b, uint8_t c, uint8_t d) : a_{a, b, c, d} {}
    uint8_t operator[](int i) const { return a_[i & 3]; }
    uint8_t &operator[](int i) { return a_[i & 3]; }
    operator bool() const { return a_[0] | a_[1] | a_[2] | a_[3]; }
    size_t printTo(Print &p) const override;
private:
    uint8_t a_[4];
};

/* TCPClient as Device OS 0.6.x wiring/src/spark_wiring_tcpclient.cpp: a 128-byte receive buffer
 * of its own, filled by socket_receive(); "open" means only socket_handle_valid(). */
class TCPClient : public Stream {
public:
    TCPClient() : sock_(SOCKET_INVALID) {}
    explicit TCPClient(sock_handle_t sock) : sock_(sock) {}
    int connect(const char *host, uint16_t port);  /* outgoing TCP is not part of the sim */
    size_t write(uint8_t c) override;
    size_t write(const uint8_t *buf, size_t n) override;
    using Print::write;
    int available() override;
    int read() override;
    int read(uint8_t *buf, size_t n);
    int peek() override;
    void flush() override {}
    void stop();
    uint8_t connected();
    uint8_t status();
    operator bool() { return connected(); }
    IPAddress remoteIP();
    sock_handle_t sock_handle() const { return sock_; }
private:
    static const int BUF_SIZE = 128;   /* TCPCLIENT_BUF_MAX_SIZE */
    int bufferCount() const { return total_ - offset_; }
    void flush_buffer() { offset_ = total_ = 0; }
    sock_handle_t sock_;
    uint8_t buffer_[BUF_SIZE];
    int offset_ = 0;
    int total_ = 0;
};

/* TCPServer as 0.6.x spark_wiring_tcpserver.cpp; FIX_SERVER_STOP = PR #1500 commit 633af5437 */
class TCPServer : public Print {
public:
    explicit TCPServer(uint16_t port, int nif = 0) : port_(port), sock_(SOCKET_INVALID) { (void)nif; }
    bool begin();
    TCPClient available();
    void stop();
    size_t write(uint8_t c) override;
    size_t write(const uint8_t *buf, size_t n) override;
    using Print::write;
private:
    uint16_t port_;
    sock_handle_t sock_;
    TCPClient client_;
};

class WiFiClass {
public:
    bool ready();
    bool connecting();
    IPAddress localIP();
    void on() {}
    void connect() {}
};
extern WiFiClass WiFi;

class CloudClass {
public:
    bool connected();
    void process();
    void connect() {}
};
extern CloudClass Particle;
#endif
