# The textbook's TCP client (seed §2.7.2): connect, send the sentence (no newline), print the
# reply, close. Usage: python3 TCPClient.py HOST PORT  (the sentence comes on standard input)
import sys
from socket import AF_INET, SOCK_STREAM, socket

serverName, serverPort = sys.argv[1], int(sys.argv[2])
clientSocket = socket(AF_INET, SOCK_STREAM)
clientSocket.settimeout(5)
clientSocket.connect((serverName, serverPort))
sentence = input('Input lowercase sentence:')
clientSocket.send(sentence.encode())
modifiedSentence = clientSocket.recv(1024)
print('From Server: ', modifiedSentence.decode())
clientSocket.close()
