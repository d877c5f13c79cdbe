// simple-server: a Photon web server on port 80, one client at a time.
// Logs changes of WiFi.ready() and Particle.connected(), reads the request line by line until
// the blank line, answers a small HTML page and closes.  Only Photon/Wiring API: it builds with
// `particle compile photon` as it is.
#include "Particle.h"

const uint16_t HTTP_PORT = 80;
const unsigned long REQUEST_TIMEOUT_MS = 5000;

TCPServer server(HTTP_PORT);
bool wasReady = false;
bool wasConnected = false;
unsigned long served = 0;

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
    server.begin();
    Serial.printlnf("simple-server listening on port %u", HTTP_PORT);
}

void answer(TCPClient &client) {
    String body = "<!DOCTYPE html>\n<html><head><title>Photon</title></head><body>\n"
                  "<h1>Hello from the Photon</h1>\n<p>Requests served: ";
    body += String(served);
    body += "</p>\n<p>Up for ";
    body += String(millis() / 1000);
    body += " s.</p>\n</body></html>\n";
    String head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                  "Content-Length: ";
    head += String(body.length());
    head += "\r\n\r\n";
    client.print(head);
    client.print(body);
}

void loop() {
    logNetworkChanges();
    TCPClient client = server.available();
    if (!client.connected()) {
        return;
    }
    IPAddress ip = client.remoteIP();
    Serial.printlnf("client %u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
    String line;
    bool complete = false;
    unsigned long start = millis();
    while (client.connected() && millis() - start < REQUEST_TIMEOUT_MS) {
        int c = client.read();
        if (c < 0) {
            Particle.process();
            continue;
        }
        if (c == '\n') {
            if (line.length() == 0) {
                complete = true;
                break;
            }
            Serial.println(line);
            line = "";
        } else if (c != '\r') {
            line += (char)c;
        }
    }
    if (complete) {
        served++;
        answer(client);
    }
    client.stop();
}
