// multi-server: a Photon web server for up to MAX_CLIENTS clients at once on port 7123.
// Each client has its own state machine: read the request, parse the path, write the headers
// (Date, Content-Length, Last-Modified, Content-Type), write the body in chunks, close.
// write() returning -16 means "buffer full, retry later"; any other negative result stops the
// client.  A client idle for 30 s is dropped.  Only Photon/Wiring API: it builds with
// `particle compile photon` as it is.
#include "Particle.h"

const uint16_t HTTP_PORT = 7123;
const int MAX_CLIENTS = 5;
const unsigned long IDLE_TIMEOUT_MS = 30000;
const size_t BODY_CHUNK = 256;
const size_t MAX_REQUEST = 1024;
const int WRITE_RETRY = -16;
const char *const DATE_FORMAT = "%a, %d %b %Y %H:%M:%S GMT";
const int HISTORY = 4;   // recent requests shown on the index page
const int SENSORS = 128; // rows of /sensors (a page bigger than the 2048-byte send window)

enum ClientState { FREE, READING, RESPONDING, SENDING_BODY, CLOSING };

struct Client {
    TCPClient tcp;
    ClientState state = FREE;
    String request;      // raw request text, up to the blank line
    String path;
    String head;         // response headers
    String body;         // response body
    size_t sent = 0;
    unsigned long lastActivity = 0;
    unsigned id = 0;
};

TCPServer server(HTTP_PORT);
Client clients[MAX_CLIENTS];
bool wasReady = false;
bool wasConnected = false;
unsigned long accepted = 0;
unsigned long answered = 0;
time_t bootTime = 0;
String history[HISTORY];
unsigned historyNext = 0;

void logNetworkChanges() {
    bool ready = WiFi.ready();
    if (ready != wasReady) {
        Serial.printlnf("WiFi.ready() = %d", ready);
        wasReady = ready;
    }
    bool connected = Particle.connected();
    if (connected != wasConnected) {
        Serial.printlnf("Particle.connected() = %d", connected);
        wasConnected = connected;
    }
}

void setup() {
    Serial.begin(9600);
    bootTime = Time.now();
    server.begin();
    Serial.printlnf("multi-server listening on port %u, %d clients", HTTP_PORT, MAX_CLIENTS);
}

void release(Client &c) {
    c.tcp.stop();
    c.request = String();
    c.path = String();
    c.head = String();
    c.body = String();
    c.state = FREE;
}

String pageFor(const String &path, int &status) {
    String page;
    if (path == "/" || path == "/index.html") {
        status = 200;
        page = "<!DOCTYPE html>\n<html><head><title>Photon multi-server</title></head><body>\n"
               "<h1>Photon multi-server</h1>\n<p>Clients accepted: ";
        page += String(accepted);
        page += ", answered: ";
        page += String(answered);
        page += "</p>\n<p>Up since ";
        page += Time.format(bootTime, DATE_FORMAT);
        page += "</p>\n<h2>Recent requests</h2>\n<ol>\n";
        for (int i = 0; i < HISTORY; i++) {
            const String &h = history[(historyNext + HISTORY - 1 - i) % HISTORY];
            if (h.length()) {
                page += "<li>" + h + "</li>\n";
            }
        }
        page += "</ol>\n<ul>\n";
        for (int i = 0; i < 16; i++) {
            page += "<li>sensor ";
            page += String(i);
            page += ": ";
            page += String((millis() / (i + 1)) % 1000);
            page += "</li>\n";
        }
        page += "</ul>\n</body></html>\n";
    } else if (path == "/sensors") {
        status = 200;
        page = "<!DOCTYPE html>\n<html><head><title>Sensors</title></head><body>\n<ul>\n";
        for (int i = 0; i < SENSORS; i++) {
            page += "<li>sensor " + String(i) + ": " + String((millis() / (i + 1)) % 1000) +
                    "</li>\n";
        }
        page += "</ul>\n</body></html>\n";
    } else if (path == "/status") {
        status = 200;
        page = "uptime_ms=";
        page += String(millis());
        page += "\nfree_memory=";
        page += String(System.freeMemory());
        page += "\n";
    } else {
        status = 404;
        page = "<html><body><h1>404 Not Found</h1><p>";
        page += path;
        page += "</p></body></html>\n";
    }
    return page;
}

// The request is complete: parse the path from "GET /path HTTP/1.1" and prepare the answer.
void prepareResponse(Client &c) {
    int sp1 = c.request.indexOf(' ');
    int sp2 = sp1 < 0 ? -1 : c.request.indexOf(' ', sp1 + 1);
    c.path = (sp1 < 0 || sp2 < 0) ? String("/") : c.request.substring(sp1 + 1, sp2);
    IPAddress ip = c.tcp.remoteIP();
    history[historyNext++ % HISTORY] = Time.format(Time.now(), "%H:%M:%S") + " client " +
        String(c.id) + " from " + String(ip[0]) + "." + String(ip[1]) + "." + String(ip[2]) +
        "." + String(ip[3]) + ": " + c.request.substring(0, sp2 < 0 ? 0 : sp2);
    int status = 200;
    c.body = pageFor(c.path, status);
    String now = Time.format(Time.now(), DATE_FORMAT);
    c.head = status == 200 ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 404 Not Found\r\n";
    c.head += "Date: " + now + "\r\n";
    c.head += "Content-Length: " + String(c.body.length()) + "\r\n";
    c.head += "Last-Modified: " + Time.format(bootTime, DATE_FORMAT) + "\r\n";
    c.head += "Content-Type: text/html\r\nConnection: close\r\n\r\n";
    c.request = String();
    c.sent = 0;
    c.state = RESPONDING;
}

// Write from `text` at c.sent; returns false when the client must be closed.
bool writeSome(Client &c, const String &text, size_t chunk, bool &done) {
    size_t left = text.length() - c.sent;
    size_t n = left < chunk ? left : chunk;
    int r = (int)c.tcp.write((const uint8_t *)text.c_str() + c.sent, n);
    if (r == WRITE_RETRY) {
        done = false;
        return true;
    }
    if (r < 0) {
        Serial.printlnf("client %u: write failed (%d)", c.id, r);
        return false;
    }
    c.sent += (size_t)r;
    c.lastActivity = millis();
    done = c.sent >= text.length();
    return true;
}

void step(Client &c) {
    if (c.state == FREE) {
        return;
    }
    if (millis() - c.lastActivity > IDLE_TIMEOUT_MS) {
        Serial.printlnf("client %u: idle, dropped", c.id);
        c.state = CLOSING;
    }
    switch (c.state) {
    case READING:
        while (c.tcp.available() > 0) {
            int ch = c.tcp.read();
            if (ch < 0) {
                break;
            }
            c.lastActivity = millis();
            c.request += (char)ch;
            if (c.request.endsWith("\r\n\r\n") || c.request.endsWith("\n\n")) {
                prepareResponse(c);
                break;
            }
            if (c.request.length() > MAX_REQUEST) {
                Serial.printlnf("client %u: request too long", c.id);
                c.state = CLOSING;
                break;
            }
        }
        if (c.state == READING && !c.tcp.connected()) {
            c.state = CLOSING;
        }
        break;
    case RESPONDING: {
        bool done = false;
        if (!writeSome(c, c.head, c.head.length(), done)) {
            c.state = CLOSING;
        } else if (done) {
            c.sent = 0;
            c.state = SENDING_BODY;
        }
        break;
    }
    case SENDING_BODY: {
        bool done = false;
        if (!writeSome(c, c.body, BODY_CHUNK, done)) {
            c.state = CLOSING;
        } else if (done) {
            answered++;
            Serial.printlnf("client %u: %s answered", c.id, c.path.c_str());
            c.state = CLOSING;
        }
        break;
    }
    case CLOSING:
        release(c);
        break;
    default:
        break;
    }
}

void acceptClients() {
    TCPClient incoming = server.available();
    if (!incoming.connected()) {
        return;
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i].state == FREE) {
            Client &c = clients[i];
            c.tcp = incoming;
            c.state = READING;
            c.lastActivity = millis();
            c.id = ++accepted;
            IPAddress ip = incoming.remoteIP();
            Serial.printlnf("client %u: from %u.%u.%u.%u in slot %d", c.id, ip[0], ip[1], ip[2],
                            ip[3], i);
            return;
        }
    }
    Serial.println("all client slots busy: refusing");
    incoming.stop();
}

void loop() {
    logNetworkChanges();
    acceptClients();
    for (int i = 0; i < MAX_CLIENTS; i++) {
        step(clients[i]);
    }
}
