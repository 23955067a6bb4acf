# The textbook's TCP server (seed §2.7.2): a welcoming socket; for each client, one recv, send
# the uppercased sentence, close the connection socket.
# Usage: python3 TCPServer.py HOST PORT COUNT  (serves COUNT connections, then exits)
import sys
from socket import AF_INET, SOCK_STREAM, socket

host, serverPort, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
serverSocket = socket(AF_INET, SOCK_STREAM)
serverSocket.bind((host, serverPort))
serverSocket.listen(1)
serverSocket.settimeout(20)
print('The server is ready to receive', flush=True)
for _ in range(count):
    connectionSocket, addr = serverSocket.accept()
    sentence = connectionSocket.recv(1024).decode()
    capitalizedSentence = sentence.upper()
    connectionSocket.send(capitalizedSentence.encode())
    connectionSocket.close()
