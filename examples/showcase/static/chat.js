// The /chat page: join the room named in #status over a WebSocket; show what the room says.
(() => {
  const status = document.getElementById("status");
  const log = document.getElementById("log");
  const input = document.getElementById("text");
  const room = status.dataset.room;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/ws/rooms/${encodeURIComponent(room)}`);
  socket.addEventListener("open", () => { status.textContent = "connected"; });
  socket.addEventListener("close", (event) => { status.textContent = `closed (${event.code})`; });
  socket.addEventListener("message", (event) => {
    const item = document.createElement("li");
    item.textContent = event.data;  // text, never HTML
    log.append(item);
  });
  document.getElementById("send").addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim() && socket.readyState === WebSocket.OPEN) {
      socket.send(input.value);
      input.value = "";
    }
  });
})();
