/* The Particle cloud connection, as far as the device's own memory is concerned.
 *
 * The sim has no cloud server: the bridge only says whether the cloud can be reached (LINK
 * cloud=0/1), and no cloud traffic crosses the link.  What is modeled is the device side of
 * Device OS's cloud loop, step by step with the heap objects each step uses:
 *   - not connected, every CLOUD_RETRY_MS: copy the server name for the resolver, create the
 *     TCP socket object, connect.  Without the uplink nothing answers the SYNs: the attempt
 *     stays pending until CLOUD_CONNECT_TIMEOUT_MS, then the socket and the name are freed.
 *   - connect succeeds: handshake -- the server's 40-byte nonce, the device's 256-byte RSA
 *     block (nonce + 12-byte device id, encrypted) -- then the session (AES key, IV, message
 *     ids) lives until the connection is lost.
 *   - connected, every CLOUD_PING_MS: a keep-alive ping, a CoAP message padded and encrypted
 *     into a 32-byte buffer.
 * Encrypted bytes are pseudo-random here (xorshift32); nothing depends on their values. */
#include <stdlib.h>
#include <string.h>
#include "cloud.h"
#include "hw.h"

extern "C" uint32_t millis(void);

static const char CLOUD_SERVER[] = "device.spark.io";
static const uint16_t CLOUD_PORT = 5683;
static const uint8_t DEVICE_ID[12] = {0x2a, 0x00, 0x1f, 0x00, 0x0d, 0x47, 0x34, 0x35,
                                      0x33, 0x38, 0x33, 0x37};
enum { NONCE_BYTES = 40, RSA_BLOCK_BYTES = 256, AES_BLOCK = 16, PING_BYTES = 2 * AES_BLOCK };

static uint32_t rng_state;
static uint32_t rng()
{
    if (rng_state == 0)
        rng_state = SYST_CVR ^ 0x9E3779B9u ^ millis();
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}
static void random_fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rng() >> 24);
}

/* the cloud's TCP socket */
struct cloud_socket_t {
    uint8_t ip[4];
    uint16_t port;
    bool open;
    uint32_t opened_at;
    uint32_t bytes_out;

    cloud_socket_t(const uint8_t *addr, uint16_t p) : port(p), open(false), opened_at(0), bytes_out(0)
    {
        memcpy(ip, addr, 4);
    }
    virtual ~cloud_socket_t() { close(); }
    virtual bool connect(bool uplink)
    {
        open = uplink;
        opened_at = millis();
        return open;
    }
    virtual void close() { open = false; }
    virtual void send(const uint8_t *p, size_t n)
    {
        (void)p;
        if (open)
            bytes_out += n;
    }
};

/* The protocol object: allocated on the first connection and never freed, as Device OS 0.6.x
 * holds it (communication/src/communication_dynalib.cpp, spark_protocol_instance); a session
 * only re-keys it.  queue[] stands for its 640-byte message buffer (spark_protocol.h). */
struct cloud_session_t {
    uint8_t queue[640];
    bool connected;
    uint8_t aes_key[AES_BLOCK];
    uint8_t iv[AES_BLOCK];
    uint8_t salt[8];
    uint16_t message_id;
    uint32_t token;
    uint32_t last_ping;
    cloud_socket_t *sock;
};

static cloud_session_t *protocol;   /* never freed */
static cloud_session_t *session;    /* == protocol while connected */
static uint32_t next_attempt;
static uint32_t attempts;

static bool handshake(cloud_socket_t *sock)
{
    uint8_t *nonce = static_cast<uint8_t *>(malloc(NONCE_BYTES));     /* from the server */
    uint8_t *block = static_cast<uint8_t *>(malloc(RSA_BLOCK_BYTES));  /* to the server */
    if (!protocol)
        protocol = new cloud_session_t();
    cloud_session_t *s = protocol;
    if (!nonce || !block) {
        free(nonce);
        free(block);
        return false;
    }
    random_fill(nonce, NONCE_BYTES);
    memcpy(block, nonce, NONCE_BYTES);
    memcpy(block + NONCE_BYTES, DEVICE_ID, sizeof DEVICE_ID);
    random_fill(block, RSA_BLOCK_BYTES);     /* RSA-encrypted in place */
    sock->send(block, RSA_BLOCK_BYTES);
    random_fill(s->aes_key, sizeof s->aes_key);
    random_fill(s->iv, sizeof s->iv);
    random_fill(s->salt, sizeof s->salt);
    s->message_id = (uint16_t)rng();
    s->token = rng();
    s->last_ping = millis();
    s->sock = sock;
    free(block);
    free(nonce);
    s->connected = true;
    session = s;
    return true;
}

/* a connection attempt in progress: the resolver's copy of the name and the socket */
static char *pending_name;
static cloud_socket_t *pending_sock;
static uint32_t pending_since;

static void attempt_end()
{
    delete pending_sock;
    free(pending_name);
    pending_sock = nullptr;
    pending_name = nullptr;
}

static void attempt_start()
{
    attempts++;
    pending_name = static_cast<char *>(malloc(sizeof CLOUD_SERVER));
    if (!pending_name)
        return;
    memcpy(pending_name, CLOUD_SERVER, sizeof CLOUD_SERVER);
    static const uint8_t server_ip[4] = {54, 208, 229, 4};
    pending_sock = new cloud_socket_t(server_ip, CLOUD_PORT);
    pending_since = millis();
}

/* the attempt in progress: connected and shaken hands, still waiting, or timed out */
static void attempt_poll(bool uplink)
{
    if (pending_sock->connect(uplink)) {
        if (handshake(pending_sock))
            pending_sock = nullptr;   /* the session owns it now */
        attempt_end();
    } else if (millis() - pending_since >= CLOUD_CONNECT_TIMEOUT_MS) {
        attempt_end();
        next_attempt = millis() + CLOUD_RETRY_MS;
    }
}

static void ping()
{
    uint8_t *msg = static_cast<uint8_t *>(malloc(PING_BYTES));
    if (!msg)
        return;
    msg[0] = 0x40;   /* CoAP v1, confirmable, empty */
    msg[1] = 0x00;
    msg[2] = (uint8_t)(session->message_id >> 8);
    msg[3] = (uint8_t)session->message_id;
    session->message_id++;
    random_fill(msg, PING_BYTES);   /* AES-CBC with the session key, padded to two blocks */
    session->sock->send(msg, PING_BYTES);
    free(msg);
    session->last_ping = millis();
}

extern "C" {

void cloud_process(bool uplink)
{
    uint32_t now = millis();
    if (session) {
        if (!uplink) {
            cloud_disconnect();
            next_attempt = now + CLOUD_RETRY_MS;
        } else if (now - session->last_ping >= CLOUD_PING_MS) {
            ping();
        }
        return;
    }
    if (pending_name) {
        attempt_poll(uplink);
    } else if ((int32_t)(now - next_attempt) >= 0) {
        attempt_start();
        if (pending_name)
            attempt_poll(uplink);
    }
}

void cloud_disconnect(void)
{
    if (pending_name)
        attempt_end();   /* the socket goes with the WiFi */
    if (!session)
        return;
    delete session->sock;
    session->sock = nullptr;
    session->connected = false;
    session = nullptr;   /* the protocol object stays */
}

bool cloud_connected(void) { return session != nullptr; }

} // extern "C"
