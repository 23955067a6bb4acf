# The textbook's UDP server (seed §2.7.1): receive a datagram, send it back uppercased.
# Usage: python3 UDPServer.py HOST PORT COUNT  (serves COUNT datagrams, then exits)
import sys
from socket import AF_INET, SOCK_DGRAM, socket

host, serverPort, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
serverSocket = socket(AF_INET, SOCK_DGRAM)
serverSocket.bind((host, serverPort))
serverSocket.settimeout(20)
print('The server is ready to receive', flush=True)
for _ in range(count):
    message, clientAddress = serverSocket.recvfrom(2048)
    modifiedMessage = message.decode().upper()
    serverSocket.sendto(modifiedMessage.encode(), clientAddress)
