# The textbook's UDP client (seed §2.7.1), written from its described behaviour:
# read a lowercase sentence, send it in one datagram, print the server's reply.
# Usage: python3 UDPClient.py HOST PORT  (the sentence comes on standard input)
import sys
from socket import AF_INET, SOCK_DGRAM, socket

serverName, serverPort = sys.argv[1], int(sys.argv[2])
clientSocket = socket(AF_INET, SOCK_DGRAM)
clientSocket.settimeout(5)
message = input('Input lowercase sentence:')
clientSocket.sendto(message.encode(), (serverName, serverPort))
modifiedMessage, serverAddress = clientSocket.recvfrom(2048)
print(modifiedMessage.decode())
clientSocket.close()
