"use strict";
(() => {
  // <define:__VQ_FIGURES__>
  var define_VQ_FIGURES_default = { gains: [{ suite: "ring (poll)", ring: "split", batch: "32", gain: "1.275x", usedPerBuffer: "0.0304 (without: 1.00)" }, { suite: "ring (poll)", ring: "packed", batch: "32", gain: "1.594x", usedPerBuffer: "0.0189 (without: 1.00)" }, { suite: "vhost-user (hybrid)", ring: "split", batch: "32", gain: "1.248x", usedPerBuffer: "0.0300 (without: 1.00)" }, { suite: "vhost-user (hybrid)", ring: "packed", batch: "32", gain: "1.435x", usedPerBuffer: "0.0264 (without: 1.00)" }], plots: [{ caption: "Throughput with IN_ORDER over without, by batch size (docs/PERFORMANCE.md).", dataUrl: "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRoPSI3NjAiIGhlaWdodD0iNDIwIiB2aWV3Qm94PSIwIDAgNzYwIDQyMCI+CjxyZWN0IHdpZHRoPSI3NjAiIGhlaWdodD0iNDIwIiBmaWxsPSJ3aGl0ZSIvPgo8dGV4dCB4PSIzMjAiIHk9IjIyIiB0ZXh0LWFuY2hvcj0ibWlkZGxlIiBmb250LXNpemU9IjE1IiBmb250LXdlaWdodD0iYm9sZCIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+SU5fT1JERVIgZ2FpbjogYmF0Y2hlZCBJTl9PUkRFUiAvIG5vIElOX09SREVSPC90ZXh0Pgo8dGV4dCB4PSIzMjAiIHk9IjQwNSIgdGV4dC1hbmNob3I9Im1pZGRsZSIgZm9udC1zaXplPSIxMiIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+YmF0Y2ggc2l6ZTwvdGV4dD4KPHRleHQgdHJhbnNmb3JtPSJ0cmFuc2xhdGUoMTggMjAwKSByb3RhdGUoLTkwKSIgdGV4dC1hbmNob3I9Im1pZGRsZSIgZm9udC1zaXplPSIxMiIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+dGhyb3VnaHB1dCByYXRpbyAobWVkaWFucyBvZiBvbmUgcnVuKTwvdGV4dD4KPGxpbmUgeDE9IjcwIiB5MT0iMzYwIiB4Mj0iNTcwIiB5Mj0iMzYwIiBzdHJva2U9IiNlNWU1ZTUiLz4KPHRleHQgeD0iNjQiIHk9IjM2NCIgdGV4dC1hbmNob3I9ImVuZCIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+MDwvdGV4dD4KPGxpbmUgeDE9IjcwIiB5MT0iMzA2LjY2NjY2NjY2NjY2NjciIHgyPSI1NzAiIHkyPSIzMDYuNjY2NjY2NjY2NjY2NyIgc3Ryb2tlPSIjZTVlNWU1Ii8+Cjx0ZXh0IHg9IjY0IiB5PSIzMTAuNjY2NjY2NjY2NjY2NyIgdGV4dC1hbmNob3I9ImVuZCIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+MC41PC90ZXh0Pgo8bGluZSB4MT0iNzAiIHkxPSIyNTMuMzMzMzMzMzMzMzMzMzQiIHgyPSI1NzAiIHkyPSIyNTMuMzMzMzMzMzMzMzMzMzQiIHN0cm9rZT0iI2U1ZTVlNSIvPgo8dGV4dCB4PSI2NCIgeT0iMjU3LjMzMzMzMzMzMzMzMzM3IiB0ZXh0LWFuY2hvcj0iZW5kIiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj4xPC90ZXh0Pgo8bGluZSB4MT0iNzAiIHkxPSIyMDAiIHgyPSI1NzAiIHkyPSIyMDAiIHN0cm9rZT0iI2U1ZTVlNSIvPgo8dGV4dCB4PSI2NCIgeT0iMjA0IiB0ZXh0LWFuY2hvcj0iZW5kIiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj4xLjU8L3RleHQ+CjxsaW5lIHgxPSI3MCIgeTE9IjE0Ni42NjY2NjY2NjY2NjY2OSIgeDI9IjU3MCIgeTI9IjE0Ni42NjY2NjY2NjY2NjY2OSIgc3Ryb2tlPSIjZTVlNWU1Ii8+Cjx0ZXh0IHg9IjY0IiB5PSIxNTAuNjY2NjY2NjY2NjY2NjkiIHRleHQtYW5jaG9yPSJlbmQiIGZvbnQtc2l6ZT0iMTEiIGZvbnQtZmFtaWx5PSJEZWphVnUgU2FucywgQXJpYWwsIHNhbnMtc2VyaWYiPjI8L3RleHQ+CjxsaW5lIHgxPSI3MCIgeTE9IjkzLjMzMzMzMzMzMzMzMzMxIiB4Mj0iNTcwIiB5Mj0iOTMuMzMzMzMzMzMzMzMzMzEiIHN0cm9rZT0iI2U1ZTVlNSIvPgo8dGV4dCB4PSI2NCIgeT0iOTcuMzMzMzMzMzMzMzMzMzEiIHRleHQtYW5jaG9yPSJlbmQiIGZvbnQtc2l6ZT0iMTEiIGZvbnQtZmFtaWx5PSJEZWphVnUgU2FucywgQXJpYWwsIHNhbnMtc2VyaWYiPjIuNTwvdGV4dD4KPGxpbmUgeDE9IjcwIiB5MT0iNDAiIHgyPSI1NzAiIHkyPSI0MCIgc3Ryb2tlPSIjZTVlNWU1Ii8+Cjx0ZXh0IHg9IjY0IiB5PSI0NCIgdGV4dC1hbmNob3I9ImVuZCIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+MzwvdGV4dD4KPGxpbmUgeDE9IjcwIiB5MT0iMzYwIiB4Mj0iNzAiIHkyPSIzNjUiIHN0cm9rZT0iIzMzMyIvPgo8dGV4dCB4PSI3MCIgeT0iMzc4IiB0ZXh0LWFuY2hvcj0ibWlkZGxlIiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj4xPC90ZXh0Pgo8bGluZSB4MT0iMTk1IiB5MT0iMzYwIiB4Mj0iMTk1IiB5Mj0iMzY1IiBzdHJva2U9IiMzMzMiLz4KPHRleHQgeD0iMTk1IiB5PSIzNzgiIHRleHQtYW5jaG9yPSJtaWRkbGUiIGZvbnQtc2l6ZT0iMTEiIGZvbnQtZmFtaWx5PSJEZWphVnUgU2FucywgQXJpYWwsIHNhbnMtc2VyaWYiPjQ8L3RleHQ+CjxsaW5lIHgxPSIzMjAiIHkxPSIzNjAiIHgyPSIzMjAiIHkyPSIzNjUiIHN0cm9rZT0iIzMzMyIvPgo8dGV4dCB4PSIzMjAiIHk9IjM3OCIgdGV4dC1hbmNob3I9Im1pZGRsZSIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+MTY8L3RleHQ+CjxsaW5lIHgxPSIzODIuNSIgeTE9IjM2MCIgeDI9IjM4Mi41IiB5Mj0iMzY1IiBzdHJva2U9IiMzMzMiLz4KPHRleHQgeD0iMzgyLjUiIHk9IjM3OCIgdGV4dC1hbmNob3I9Im1pZGRsZSIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+MzI8L3RleHQ+CjxsaW5lIHgxPSI0NDUiIHkxPSIzNjAiIHgyPSI0NDUiIHkyPSIzNjUiIHN0cm9rZT0iIzMzMyIvPgo8dGV4dCB4PSI0NDUiIHk9IjM3OCIgdGV4dC1hbmNob3I9Im1pZGRsZSIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+NjQ8L3RleHQ+CjxsaW5lIHgxPSI1MDcuNSIgeTE9IjM2MCIgeDI9IjUwNy41IiB5Mj0iMzY1IiBzdHJva2U9IiMzMzMiLz4KPHRleHQgeD0iNTA3LjUiIHk9IjM3OCIgdGV4dC1hbmNob3I9Im1pZGRsZSIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+MTI4PC90ZXh0Pgo8bGluZSB4MT0iNTcwIiB5MT0iMzYwIiB4Mj0iNTcwIiB5Mj0iMzY1IiBzdHJva2U9IiMzMzMiLz4KPHRleHQgeD0iNTcwIiB5PSIzNzgiIHRleHQtYW5jaG9yPSJtaWRkbGUiIGZvbnQtc2l6ZT0iMTEiIGZvbnQtZmFtaWx5PSJEZWphVnUgU2FucywgQXJpYWwsIHNhbnMtc2VyaWYiPjI1NjwvdGV4dD4KPGxpbmUgeDE9IjcwIiB5MT0iMzYwIiB4Mj0iNTcwIiB5Mj0iMzYwIiBzdHJva2U9IiMzMzMiLz4KPGxpbmUgeDE9IjcwIiB5MT0iNDAiIHgyPSI3MCIgeTI9IjM2MCIgc3Ryb2tlPSIjMzMzIi8+CjxsaW5lIHgxPSI3MCIgeTE9IjIzNy4zMzMzMzMzMzMzMzMzNCIgeDI9IjU3MCIgeTI9IjIzNy4zMzMzMzMzMzMzMzMzNCIgc3Ryb2tlPSIjNDQ0IiBzdHJva2UtZGFzaGFycmF5PSIyIDMiLz4KPHRleHQgeD0iNTY2IiB5PSIyMzMuMzMzMzMzMzMzMzMzMzQiIHRleHQtYW5jaG9yPSJlbmQiIGZvbnQtc2l6ZT0iMTAiIGZvbnQtZmFtaWx5PSJEZWphVnUgU2FucywgQXJpYWwsIHNhbnMtc2VyaWYiPnRhcmdldCAxLjE1eDwvdGV4dD4KPGxpbmUgeDE9IjcwIiB5MT0iMjUzLjMzMzMzMzMzMzMzMzM0IiB4Mj0iNTcwIiB5Mj0iMjUzLjMzMzMzMzMzMzMzMzM0IiBzdHJva2U9IiM0NDQiIHN0cm9rZS1kYXNoYXJyYXk9IjIgMyIvPgo8dGV4dCB4PSI1NjYiIHk9IjI0OS4zMzMzMzMzMzMzMzMzNCIgdGV4dC1hbmNob3I9ImVuZCIgZm9udC1zaXplPSIxMCIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+bm8gZ2FpbjwvdGV4dD4KPHBvbHlsaW5lIGZpbGw9Im5vbmUiIHN0cm9rZT0iIzFmNzdiNCIgc3Ryb2tlLXdpZHRoPSIyLjUiIHBvaW50cz0iNzAuMCwyNDEuNSAxOTUuMCwxNzguNCAzMjAuMCwyNjMuOCAzODIuNSwyMjQuMCA0NDUuMCwyMzQuOSA1MDcuNSwyMTkuNCA1NzAuMCwyMTUuNiIvPgo8Y2lyY2xlIGN4PSI3MC4wIiBjeT0iMjQxLjUiIHI9IjMiIGZpbGw9IiMxZjc3YjQiLz4KPGNpcmNsZSBjeD0iMTk1LjAiIGN5PSIxNzguNCIgcj0iMyIgZmlsbD0iIzFmNzdiNCIvPgo8Y2lyY2xlIGN4PSIzMjAuMCIgY3k9IjI2My44IiByPSIzIiBmaWxsPSIjMWY3N2I0Ii8+CjxjaXJjbGUgY3g9IjM4Mi41IiBjeT0iMjI0LjAiIHI9IjMiIGZpbGw9IiMxZjc3YjQiLz4KPGNpcmNsZSBjeD0iNDQ1LjAiIGN5PSIyMzQuOSIgcj0iMyIgZmlsbD0iIzFmNzdiNCIvPgo8Y2lyY2xlIGN4PSI1MDcuNSIgY3k9IjIxOS40IiByPSIzIiBmaWxsPSIjMWY3N2I0Ii8+CjxjaXJjbGUgY3g9IjU3MC4wIiBjeT0iMjE1LjYiIHI9IjMiIGZpbGw9IiMxZjc3YjQiLz4KPHBvbHlsaW5lIGZpbGw9Im5vbmUiIHN0cm9rZT0iI2ZmN2YwZSIgc3Ryb2tlLXdpZHRoPSIyLjUiIHBvaW50cz0iNzAuMCwxOTMuOSAxOTUuMCwyNDkuOSAzMjAuMCwyMDIuNSAzODIuNSwxOTAuMCA0NDUuMCwxOTUuMCA1MDcuNSwxOTcuMSA1NzAuMCwxNzYuOCIvPgo8Y2lyY2xlIGN4PSI3MC4wIiBjeT0iMTkzLjkiIHI9IjMiIGZpbGw9IiNmZjdmMGUiLz4KPGNpcmNsZSBjeD0iMTk1LjAiIGN5PSIyNDkuOSIgcj0iMyIgZmlsbD0iI2ZmN2YwZSIvPgo8Y2lyY2xlIGN4PSIzMjAuMCIgY3k9IjIwMi41IiByPSIzIiBmaWxsPSIjZmY3ZjBlIi8+CjxjaXJjbGUgY3g9IjM4Mi41IiBjeT0iMTkwLjAiIHI9IjMiIGZpbGw9IiNmZjdmMGUiLz4KPGNpcmNsZSBjeD0iNDQ1LjAiIGN5PSIxOTUuMCIgcj0iMyIgZmlsbD0iI2ZmN2YwZSIvPgo8Y2lyY2xlIGN4PSI1MDcuNSIgY3k9IjE5Ny4xIiByPSIzIiBmaWxsPSIjZmY3ZjBlIi8+CjxjaXJjbGUgY3g9IjU3MC4wIiBjeT0iMTc2LjgiIHI9IjMiIGZpbGw9IiNmZjdmMGUiLz4KPHBvbHlsaW5lIGZpbGw9Im5vbmUiIHN0cm9rZT0iIzJjYTAyYyIgc3Ryb2tlLXdpZHRoPSIyLjUiIHN0cm9rZS1kYXNoYXJyYXk9IjYgMyIgcG9pbnRzPSI3MC4wLDczLjkgMTk1LjAsMjI2LjggMzIwLjAsMjMzLjIgMzgyLjUsMjI2LjkgNDQ1LjAsMjIxLjkgNTA3LjUsMTQ4LjEgNTcwLjAsMjI5LjAiLz4KPGNpcmNsZSBjeD0iNzAuMCIgY3k9IjczLjkiIHI9IjMiIGZpbGw9IiMyY2EwMmMiLz4KPGNpcmNsZSBjeD0iMTk1LjAiIGN5PSIyMjYuOCIgcj0iMyIgZmlsbD0iIzJjYTAyYyIvPgo8Y2lyY2xlIGN4PSIzMjAuMCIgY3k9IjIzMy4yIiByPSIzIiBmaWxsPSIjMmNhMDJjIi8+CjxjaXJjbGUgY3g9IjM4Mi41IiBjeT0iMjI2LjkiIHI9IjMiIGZpbGw9IiMyY2EwMmMiLz4KPGNpcmNsZSBjeD0iNDQ1LjAiIGN5PSIyMjEuOSIgcj0iMyIgZmlsbD0iIzJjYTAyYyIvPgo8Y2lyY2xlIGN4PSI1MDcuNSIgY3k9IjE0OC4xIiByPSIzIiBmaWxsPSIjMmNhMDJjIi8+CjxjaXJjbGUgY3g9IjU3MC4wIiBjeT0iMjI5LjAiIHI9IjMiIGZpbGw9IiMyY2EwMmMiLz4KPHBvbHlsaW5lIGZpbGw9Im5vbmUiIHN0cm9rZT0iI2Q2MjcyOCIgc3Ryb2tlLXdpZHRoPSIyLjUiIHN0cm9rZS1kYXNoYXJyYXk9IjYgMyIgcG9pbnRzPSI3MC4wLDI0Ni45IDE5NS4wLDI0Mi44IDMyMC4wLDIxNi40IDM4Mi41LDIwNy4wIDQ0NS4wLDE3OC43IDUwNy41LDIyNS42IDU3MC4wLDE5NS41Ii8+CjxjaXJjbGUgY3g9IjcwLjAiIGN5PSIyNDYuOSIgcj0iMyIgZmlsbD0iI2Q2MjcyOCIvPgo8Y2lyY2xlIGN4PSIxOTUuMCIgY3k9IjI0Mi44IiByPSIzIiBmaWxsPSIjZDYyNzI4Ii8+CjxjaXJjbGUgY3g9IjMyMC4wIiBjeT0iMjE2LjQiIHI9IjMiIGZpbGw9IiNkNjI3MjgiLz4KPGNpcmNsZSBjeD0iMzgyLjUiIGN5PSIyMDcuMCIgcj0iMyIgZmlsbD0iI2Q2MjcyOCIvPgo8Y2lyY2xlIGN4PSI0NDUuMCIgY3k9IjE3OC43IiByPSIzIiBmaWxsPSIjZDYyNzI4Ii8+CjxjaXJjbGUgY3g9IjUwNy41IiBjeT0iMjI1LjYiIHI9IjMiIGZpbGw9IiNkNjI3MjgiLz4KPGNpcmNsZSBjeD0iNTcwLjAiIGN5PSIxOTUuNSIgcj0iMyIgZmlsbD0iI2Q2MjcyOCIvPgo8bGluZSB4MT0iNTg1IiB5MT0iNTAiIHgyPSI2MDciIHkyPSI1MCIgc3Ryb2tlPSIjMWY3N2I0IiBzdHJva2Utd2lkdGg9IjIuNSIvPgo8dGV4dCB4PSI2MTMiIHk9IjU0IiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj5yaW5nOiBzcGxpdCAocG9sbCk8L3RleHQ+CjxsaW5lIHgxPSI1ODUiIHkxPSI3MCIgeDI9IjYwNyIgeTI9IjcwIiBzdHJva2U9IiNmZjdmMGUiIHN0cm9rZS13aWR0aD0iMi41Ii8+Cjx0ZXh0IHg9IjYxMyIgeT0iNzQiIGZvbnQtc2l6ZT0iMTEiIGZvbnQtZmFtaWx5PSJEZWphVnUgU2FucywgQXJpYWwsIHNhbnMtc2VyaWYiPnJpbmc6IHBhY2tlZCAocG9sbCk8L3RleHQ+CjxsaW5lIHgxPSI1ODUiIHkxPSI5MCIgeDI9IjYwNyIgeTI9IjkwIiBzdHJva2U9IiMyY2EwMmMiIHN0cm9rZS13aWR0aD0iMi41IiBzdHJva2UtZGFzaGFycmF5PSI2IDMiLz4KPHRleHQgeD0iNjEzIiB5PSI5NCIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+dmhvc3QtdXNlcjogc3BsaXQgKGh5YnJpZCk8L3RleHQ+CjxsaW5lIHgxPSI1ODUiIHkxPSIxMTAiIHgyPSI2MDciIHkyPSIxMTAiIHN0cm9rZT0iI2Q2MjcyOCIgc3Ryb2tlLXdpZHRoPSIyLjUiIHN0cm9rZS1kYXNoYXJyYXk9IjYgMyIvPgo8dGV4dCB4PSI2MTMiIHk9IjExNCIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+dmhvc3QtdXNlcjogcGFja2VkIChoeWJyaWQpPC90ZXh0Pgo8L3N2Zz4K" }, { caption: "Used entries written per buffer: one per batch with IN_ORDER (docs/PERFORMANCE.md).", dataUrl: "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRoPSI3NjAiIGhlaWdodD0iNDIwIiB2aWV3Qm94PSIwIDAgNzYwIDQyMCI+CjxyZWN0IHdpZHRoPSI3NjAiIGhlaWdodD0iNDIwIiBmaWxsPSJ3aGl0ZSIvPgo8dGV4dCB4PSIzMjAiIHk9IjIyIiB0ZXh0LWFuY2hvcj0ibWlkZGxlIiBmb250LXNpemU9IjE1IiBmb250LXdlaWdodD0iYm9sZCIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+VXNlZCBlbnRyaWVzIHdyaXR0ZW4gcGVyIGJ1ZmZlciAocmluZywgcG9sbCwgcXVldWUgMjU2KTwvdGV4dD4KPHRleHQgeD0iMzIwIiB5PSI0MDUiIHRleHQtYW5jaG9yPSJtaWRkbGUiIGZvbnQtc2l6ZT0iMTIiIGZvbnQtZmFtaWx5PSJEZWphVnUgU2FucywgQXJpYWwsIHNhbnMtc2VyaWYiPmJhdGNoIHNpemU8L3RleHQ+Cjx0ZXh0IHRyYW5zZm9ybT0idHJhbnNsYXRlKDE4IDIwMCkgcm90YXRlKC05MCkiIHRleHQtYW5jaG9yPSJtaWRkbGUiIGZvbnQtc2l6ZT0iMTIiIGZvbnQtZmFtaWx5PSJEZWphVnUgU2FucywgQXJpYWwsIHNhbnMtc2VyaWYiPnVzZWQgZW50cmllcyBwZXIgYnVmZmVyIChleGFjdCBjb3VudGVyKTwvdGV4dD4KPGxpbmUgeDE9IjcwIiB5MT0iMzYwIiB4Mj0iNTcwIiB5Mj0iMzYwIiBzdHJva2U9IiNlNWU1ZTUiLz4KPHRleHQgeD0iNjQiIHk9IjM2NCIgdGV4dC1hbmNob3I9ImVuZCIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+MC4wMTwvdGV4dD4KPGxpbmUgeDE9IjcwIiB5MT0iMjAwIiB4Mj0iNTcwIiB5Mj0iMjAwIiBzdHJva2U9IiNlNWU1ZTUiLz4KPHRleHQgeD0iNjQiIHk9IjIwNCIgdGV4dC1hbmNob3I9ImVuZCIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+MC4xPC90ZXh0Pgo8bGluZSB4MT0iNzAiIHkxPSI0MCIgeDI9IjU3MCIgeTI9IjQwIiBzdHJva2U9IiNlNWU1ZTUiLz4KPHRleHQgeD0iNjQiIHk9IjQ0IiB0ZXh0LWFuY2hvcj0iZW5kIiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj4xPC90ZXh0Pgo8bGluZSB4MT0iNzAiIHkxPSIzNjAiIHgyPSI3MCIgeTI9IjM2NSIgc3Ryb2tlPSIjMzMzIi8+Cjx0ZXh0IHg9IjcwIiB5PSIzNzgiIHRleHQtYW5jaG9yPSJtaWRkbGUiIGZvbnQtc2l6ZT0iMTEiIGZvbnQtZmFtaWx5PSJEZWphVnUgU2FucywgQXJpYWwsIHNhbnMtc2VyaWYiPjE8L3RleHQ+CjxsaW5lIHgxPSIxOTUiIHkxPSIzNjAiIHgyPSIxOTUiIHkyPSIzNjUiIHN0cm9rZT0iIzMzMyIvPgo8dGV4dCB4PSIxOTUiIHk9IjM3OCIgdGV4dC1hbmNob3I9Im1pZGRsZSIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+NDwvdGV4dD4KPGxpbmUgeDE9IjMyMCIgeTE9IjM2MCIgeDI9IjMyMCIgeTI9IjM2NSIgc3Ryb2tlPSIjMzMzIi8+Cjx0ZXh0IHg9IjMyMCIgeT0iMzc4IiB0ZXh0LWFuY2hvcj0ibWlkZGxlIiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj4xNjwvdGV4dD4KPGxpbmUgeDE9IjM4Mi41IiB5MT0iMzYwIiB4Mj0iMzgyLjUiIHkyPSIzNjUiIHN0cm9rZT0iIzMzMyIvPgo8dGV4dCB4PSIzODIuNSIgeT0iMzc4IiB0ZXh0LWFuY2hvcj0ibWlkZGxlIiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj4zMjwvdGV4dD4KPGxpbmUgeDE9IjQ0NSIgeTE9IjM2MCIgeDI9IjQ0NSIgeTI9IjM2NSIgc3Ryb2tlPSIjMzMzIi8+Cjx0ZXh0IHg9IjQ0NSIgeT0iMzc4IiB0ZXh0LWFuY2hvcj0ibWlkZGxlIiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj42NDwvdGV4dD4KPGxpbmUgeDE9IjUwNy41IiB5MT0iMzYwIiB4Mj0iNTA3LjUiIHkyPSIzNjUiIHN0cm9rZT0iIzMzMyIvPgo8dGV4dCB4PSI1MDcuNSIgeT0iMzc4IiB0ZXh0LWFuY2hvcj0ibWlkZGxlIiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj4xMjg8L3RleHQ+CjxsaW5lIHgxPSI1NzAiIHkxPSIzNjAiIHgyPSI1NzAiIHkyPSIzNjUiIHN0cm9rZT0iIzMzMyIvPgo8dGV4dCB4PSI1NzAiIHk9IjM3OCIgdGV4dC1hbmNob3I9Im1pZGRsZSIgZm9udC1zaXplPSIxMSIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+MjU2PC90ZXh0Pgo8bGluZSB4MT0iNzAiIHkxPSIzNjAiIHgyPSI1NzAiIHkyPSIzNjAiIHN0cm9rZT0iIzMzMyIvPgo8bGluZSB4MT0iNzAiIHkxPSI0MCIgeDI9IjcwIiB5Mj0iMzYwIiBzdHJva2U9IiMzMzMiLz4KPGxpbmUgeDE9IjcwIiB5MT0iMjMyLjY1OTE5NzIyNDk0Nzk3IiB4Mj0iNTcwIiB5Mj0iMjMyLjY1OTE5NzIyNDk0Nzk3IiBzdHJva2U9IiM0NDQiIHN0cm9rZS1kYXNoYXJyYXk9IjIgMyIvPgo8dGV4dCB4PSI1NjYiIHk9IjIyOC42NTkxOTcyMjQ5NDc5NyIgdGV4dC1hbmNob3I9ImVuZCIgZm9udC1zaXplPSIxMCIgZm9udC1mYW1pbHk9IkRlamFWdSBTYW5zLCBBcmlhbCwgc2Fucy1zZXJpZiI+dGFyZ2V0IDEvMTYgYXQgYmF0Y2ggMzI8L3RleHQ+Cjxwb2x5bGluZSBmaWxsPSJub25lIiBzdHJva2U9IiMxZjc3YjQiIHN0cm9rZS13aWR0aD0iMi41IiBwb2ludHM9IjcwLjAsMTAzLjMgMTk1LjAsMTk5LjQgMzIwLjAsMjYwLjcgMzgyLjUsMjgyLjcgNDQ1LjAsMzI5LjAgNTA3LjUsMzI5LjAgNTcwLjAsMzI5LjAiLz4KPGNpcmNsZSBjeD0iNzAuMCIgY3k9IjEwMy4zIiByPSIzIiBmaWxsPSIjMWY3N2I0Ii8+CjxjaXJjbGUgY3g9IjE5NS4wIiBjeT0iMTk5LjQiIHI9IjMiIGZpbGw9IiMxZjc3YjQiLz4KPGNpcmNsZSBjeD0iMzIwLjAiIGN5PSIyNjAuNyIgcj0iMyIgZmlsbD0iIzFmNzdiNCIvPgo8Y2lyY2xlIGN4PSIzODIuNSIgY3k9IjI4Mi43IiByPSIzIiBmaWxsPSIjMWY3N2I0Ii8+CjxjaXJjbGUgY3g9IjQ0NS4wIiBjeT0iMzI5LjAiIHI9IjMiIGZpbGw9IiMxZjc3YjQiLz4KPGNpcmNsZSBjeD0iNTA3LjUiIGN5PSIzMjkuMCIgcj0iMyIgZmlsbD0iIzFmNzdiNCIvPgo8Y2lyY2xlIGN4PSI1NzAuMCIgY3k9IjMyOS4wIiByPSIzIiBmaWxsPSIjMWY3N2I0Ii8+Cjxwb2x5bGluZSBmaWxsPSJub25lIiBzdHJva2U9IiNmZjdmMGUiIHN0cm9rZS13aWR0aD0iMi41IiBwb2ludHM9IjcwLjAsNDAuMCAxOTUuMCw0MC4wIDMyMC4wLDQwLjAgMzgyLjUsNDAuMCA0NDUuMCw0MC4wIDUwNy41LDQwLjAgNTcwLjAsNDAuMCIvPgo8Y2lyY2xlIGN4PSI3MC4wIiBjeT0iNDAuMCIgcj0iMyIgZmlsbD0iI2ZmN2YwZSIvPgo8Y2lyY2xlIGN4PSIxOTUuMCIgY3k9IjQwLjAiIHI9IjMiIGZpbGw9IiNmZjdmMGUiLz4KPGNpcmNsZSBjeD0iMzIwLjAiIGN5PSI0MC4wIiByPSIzIiBmaWxsPSIjZmY3ZjBlIi8+CjxjaXJjbGUgY3g9IjM4Mi41IiBjeT0iNDAuMCIgcj0iMyIgZmlsbD0iI2ZmN2YwZSIvPgo8Y2lyY2xlIGN4PSI0NDUuMCIgY3k9IjQwLjAiIHI9IjMiIGZpbGw9IiNmZjdmMGUiLz4KPGNpcmNsZSBjeD0iNTA3LjUiIGN5PSI0MC4wIiByPSIzIiBmaWxsPSIjZmY3ZjBlIi8+CjxjaXJjbGUgY3g9IjU3MC4wIiBjeT0iNDAuMCIgcj0iMyIgZmlsbD0iI2ZmN2YwZSIvPgo8cG9seWxpbmUgZmlsbD0ibm9uZSIgc3Ryb2tlPSIjMmNhMDJjIiBzdHJva2Utd2lkdGg9IjIuNSIgcG9pbnRzPSI3MC4wLDQwLjAgMTk1LjAsNDAuMCAzMjAuMCw0MC4wIDM4Mi41LDQwLjAgNDQ1LjAsNDAuMCA1MDcuNSw0MC4wIDU3MC4wLDQwLjAiLz4KPGNpcmNsZSBjeD0iNzAuMCIgY3k9IjQwLjAiIHI9IjMiIGZpbGw9IiMyY2EwMmMiLz4KPGNpcmNsZSBjeD0iMTk1LjAiIGN5PSI0MC4wIiByPSIzIiBmaWxsPSIjMmNhMDJjIi8+CjxjaXJjbGUgY3g9IjMyMC4wIiBjeT0iNDAuMCIgcj0iMyIgZmlsbD0iIzJjYTAyYyIvPgo8Y2lyY2xlIGN4PSIzODIuNSIgY3k9IjQwLjAiIHI9IjMiIGZpbGw9IiMyY2EwMmMiLz4KPGNpcmNsZSBjeD0iNDQ1LjAiIGN5PSI0MC4wIiByPSIzIiBmaWxsPSIjMmNhMDJjIi8+CjxjaXJjbGUgY3g9IjUwNy41IiBjeT0iNDAuMCIgcj0iMyIgZmlsbD0iIzJjYTAyYyIvPgo8Y2lyY2xlIGN4PSI1NzAuMCIgY3k9IjQwLjAiIHI9IjMiIGZpbGw9IiMyY2EwMmMiLz4KPHBvbHlsaW5lIGZpbGw9Im5vbmUiIHN0cm9rZT0iI2Q2MjcyOCIgc3Ryb2tlLXdpZHRoPSIyLjUiIHN0cm9rZS1kYXNoYXJyYXk9IjYgMyIgcG9pbnRzPSI3MC4wLDE5OS4yIDE5NS4wLDIxMS45IDMyMC4wLDI3Ni43IDM4Mi41LDMxNS43IDQ0NS4wLDMyOS4wIDUwNy41LDMyOS4wIDU3MC4wLDMyOS4wIi8+CjxjaXJjbGUgY3g9IjcwLjAiIGN5PSIxOTkuMiIgcj0iMyIgZmlsbD0iI2Q2MjcyOCIvPgo8Y2lyY2xlIGN4PSIxOTUuMCIgY3k9IjIxMS45IiByPSIzIiBmaWxsPSIjZDYyNzI4Ii8+CjxjaXJjbGUgY3g9IjMyMC4wIiBjeT0iMjc2LjciIHI9IjMiIGZpbGw9IiNkNjI3MjgiLz4KPGNpcmNsZSBjeD0iMzgyLjUiIGN5PSIzMTUuNyIgcj0iMyIgZmlsbD0iI2Q2MjcyOCIvPgo8Y2lyY2xlIGN4PSI0NDUuMCIgY3k9IjMyOS4wIiByPSIzIiBmaWxsPSIjZDYyNzI4Ii8+CjxjaXJjbGUgY3g9IjUwNy41IiBjeT0iMzI5LjAiIHI9IjMiIGZpbGw9IiNkNjI3MjgiLz4KPGNpcmNsZSBjeD0iNTcwLjAiIGN5PSIzMjkuMCIgcj0iMyIgZmlsbD0iI2Q2MjcyOCIvPgo8cG9seWxpbmUgZmlsbD0ibm9uZSIgc3Ryb2tlPSIjOTQ2N2JkIiBzdHJva2Utd2lkdGg9IjIuNSIgc3Ryb2tlLWRhc2hhcnJheT0iNiAzIiBwb2ludHM9IjcwLjAsNDAuMCAxOTUuMCw0MC4wIDMyMC4wLDQwLjAgMzgyLjUsNDAuMCA0NDUuMCw0MC4wIDUwNy41LDQwLjAgNTcwLjAsNDAuMCIvPgo8Y2lyY2xlIGN4PSI3MC4wIiBjeT0iNDAuMCIgcj0iMyIgZmlsbD0iIzk0NjdiZCIvPgo8Y2lyY2xlIGN4PSIxOTUuMCIgY3k9IjQwLjAiIHI9IjMiIGZpbGw9IiM5NDY3YmQiLz4KPGNpcmNsZSBjeD0iMzIwLjAiIGN5PSI0MC4wIiByPSIzIiBmaWxsPSIjOTQ2N2JkIi8+CjxjaXJjbGUgY3g9IjM4Mi41IiBjeT0iNDAuMCIgcj0iMyIgZmlsbD0iIzk0NjdiZCIvPgo8Y2lyY2xlIGN4PSI0NDUuMCIgY3k9IjQwLjAiIHI9IjMiIGZpbGw9IiM5NDY3YmQiLz4KPGNpcmNsZSBjeD0iNTA3LjUiIGN5PSI0MC4wIiByPSIzIiBmaWxsPSIjOTQ2N2JkIi8+CjxjaXJjbGUgY3g9IjU3MC4wIiBjeT0iNDAuMCIgcj0iMyIgZmlsbD0iIzk0NjdiZCIvPgo8cG9seWxpbmUgZmlsbD0ibm9uZSIgc3Ryb2tlPSIjOGM1NjRiIiBzdHJva2Utd2lkdGg9IjIuNSIgc3Ryb2tlLWRhc2hhcnJheT0iNiAzIiBwb2ludHM9IjcwLjAsNDAuMCAxOTUuMCw0MC4wIDMyMC4wLDQwLjAgMzgyLjUsNDAuMCA0NDUuMCw0MC4wIDUwNy41LDQwLjAgNTcwLjAsNDAuMCIvPgo8Y2lyY2xlIGN4PSI3MC4wIiBjeT0iNDAuMCIgcj0iMyIgZmlsbD0iIzhjNTY0YiIvPgo8Y2lyY2xlIGN4PSIxOTUuMCIgY3k9IjQwLjAiIHI9IjMiIGZpbGw9IiM4YzU2NGIiLz4KPGNpcmNsZSBjeD0iMzIwLjAiIGN5PSI0MC4wIiByPSIzIiBmaWxsPSIjOGM1NjRiIi8+CjxjaXJjbGUgY3g9IjM4Mi41IiBjeT0iNDAuMCIgcj0iMyIgZmlsbD0iIzhjNTY0YiIvPgo8Y2lyY2xlIGN4PSI0NDUuMCIgY3k9IjQwLjAiIHI9IjMiIGZpbGw9IiM4YzU2NGIiLz4KPGNpcmNsZSBjeD0iNTA3LjUiIGN5PSI0MC4wIiByPSIzIiBmaWxsPSIjOGM1NjRiIi8+CjxjaXJjbGUgY3g9IjU3MC4wIiBjeT0iNDAuMCIgcj0iMyIgZmlsbD0iIzhjNTY0YiIvPgo8bGluZSB4MT0iNTg1IiB5MT0iNTAiIHgyPSI2MDciIHkyPSI1MCIgc3Ryb2tlPSIjMWY3N2I0IiBzdHJva2Utd2lkdGg9IjIuNSIvPgo8dGV4dCB4PSI2MTMiIHk9IjU0IiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj5zcGxpdCBpbi1vcmRlciBiYXRjaGVkPC90ZXh0Pgo8bGluZSB4MT0iNTg1IiB5MT0iNzAiIHgyPSI2MDciIHkyPSI3MCIgc3Ryb2tlPSIjZmY3ZjBlIiBzdHJva2Utd2lkdGg9IjIuNSIvPgo8dGV4dCB4PSI2MTMiIHk9Ijc0IiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj5zcGxpdCBpbi1vcmRlciBwZXItYnVmZmVyPC90ZXh0Pgo8bGluZSB4MT0iNTg1IiB5MT0iOTAiIHgyPSI2MDciIHkyPSI5MCIgc3Ryb2tlPSIjMmNhMDJjIiBzdHJva2Utd2lkdGg9IjIuNSIvPgo8dGV4dCB4PSI2MTMiIHk9Ijk0IiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj5zcGxpdCBubyBpbi1vcmRlcjwvdGV4dD4KPGxpbmUgeDE9IjU4NSIgeTE9IjExMCIgeDI9IjYwNyIgeTI9IjExMCIgc3Ryb2tlPSIjZDYyNzI4IiBzdHJva2Utd2lkdGg9IjIuNSIgc3Ryb2tlLWRhc2hhcnJheT0iNiAzIi8+Cjx0ZXh0IHg9IjYxMyIgeT0iMTE0IiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj5wYWNrZWQgaW4tb3JkZXIgYmF0Y2hlZDwvdGV4dD4KPGxpbmUgeDE9IjU4NSIgeTE9IjEzMCIgeDI9IjYwNyIgeTI9IjEzMCIgc3Ryb2tlPSIjOTQ2N2JkIiBzdHJva2Utd2lkdGg9IjIuNSIgc3Ryb2tlLWRhc2hhcnJheT0iNiAzIi8+Cjx0ZXh0IHg9IjYxMyIgeT0iMTM0IiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj5wYWNrZWQgaW4tb3JkZXIgcGVyLWJ1ZmZlcjwvdGV4dD4KPGxpbmUgeDE9IjU4NSIgeTE9IjE1MCIgeDI9IjYwNyIgeTI9IjE1MCIgc3Ryb2tlPSIjOGM1NjRiIiBzdHJva2Utd2lkdGg9IjIuNSIgc3Ryb2tlLWRhc2hhcnJheT0iNiAzIi8+Cjx0ZXh0IHg9IjYxMyIgeT0iMTU0IiBmb250LXNpemU9IjExIiBmb250LWZhbWlseT0iRGVqYVZ1IFNhbnMsIEFyaWFsLCBzYW5zLXNlcmlmIj5wYWNrZWQgbm8gaW4tb3JkZXI8L3RleHQ+Cjwvc3ZnPgo=" }], source: "Medians of interleaved runs: ring suite 2026-11-28 (vq bench ring --out docs/bench/ring.json), vhost-user suite 2026-11-28 (vq bench vhost-user --out /tmp/exp/vhost-user-run2.json). docs/PERFORMANCE.md has every figure and how to reproduce it." };

  // src/explainer/format.ts
  var hex = (n) => `0x${n.toString(16)}`;
  function flagNames(flags) {
    const names = [];
    if (flags & 1) names.push("N");
    if (flags & 2) names.push("W");
    if (flags & 4) names.push("I");
    if (flags & 128) names.push("A");
    if (flags & 32768) names.push("U");
    return names.join(" ") || "-";
  }
  function packedState(flags, written) {
    if (!written) return "";
    return (flags >> 7 & 1) !== (flags >> 15 & 1) ? "available" : "used";
  }
  function descriptorCells(s, d) {
    const f = d.fields;
    if (s.config.ring === "split") {
      return [String(d.index), f.addr === 0 ? "-" : hex(f.addr), String(f.len), flagNames(f.flags), String(f.next)];
    }
    return [
      String(d.index),
      f.addr === 0 ? "-" : hex(f.addr),
      String(f.len),
      String(f.id),
      flagNames(f.flags),
      packedState(f.flags, f.addr !== 0 || f.len !== 0 || f.flags !== 0)
    ];
  }
  function descriptorHeads(s) {
    return s.config.ring === "split" ? ["#", "addr", "len", "flags", "next"] : ["#", "addr", "len", "Buffer ID", "flags", "state"];
  }
  function headerText(h) {
    return Object.entries(h.fields).map(([k, v]) => `${k} ${v}`).join("  ");
  }
  function entryText(e) {
    return "len" in e.fields ? `id ${e.fields.id} len ${e.fields.len}` : `${e.fields.id}`;
  }
  var COUNTER_LABELS = [
    ["buffersAdded", "buffers added"],
    ["driverDescriptorsWritten", "descriptors the driver wrote"],
    ["driverRingSlotsWritten", "ring slots the driver wrote"],
    ["kicksSent", "kicks sent"],
    ["kicksSuppressed", "kicks suppressed"],
    ["chainsTaken", "chains the device took"],
    ["buffersUsed", "buffers used"],
    ["usedEntriesWritten", "used entries the device wrote"],
    ["interruptsSent", "interrupts sent"],
    ["interruptsSuppressed", "interrupts suppressed"],
    ["buffersReclaimed", "buffers the driver took back"],
    ["usedEntriesRead", "used entries the driver read"]
  ];

  // src/memory/guest-memory.ts
  var MemoryFault = {
    /** The range is not wholly inside one region. */
    OUT_OF_RANGE: "ADDRESS_OUT_OF_RANGE",
    /** addr + len wraps past 2^64. */
    OVERFLOW: "ADDRESS_OVERFLOW",
    /** The range reaches 2^53: no region can be there, and a JS number cannot name it exactly. */
    TOO_LARGE: "ADDRESS_TOO_LARGE"
  };
  var MAX_SAFE_ADDRESS = 2 ** 53;
  var TWO_32 = 2 ** 32;
  var GuestMemoryError = class extends Error {
    constructor(fault, addr, len, message) {
      super(message);
      this.fault = fault;
      this.addr = addr;
      this.len = len;
    }
    name = "GuestMemoryError";
  };
  var MemoryRegion = class {
    guestAddr;
    size;
    /** guestAddr + size. */
    end;
    /** Exactly the region's bytes: index 0 is guestAddr. */
    bytes;
    /** Same bytes, for little-endian reads at any alignment. */
    view;
    constructor(init) {
      const offset = init.offset ?? 0;
      const { guestAddr, size } = init;
      if (!Number.isSafeInteger(guestAddr) || guestAddr < 0 || !Number.isSafeInteger(size) || size <= 0) {
        throw new GuestMemoryError("BAD_REGION", guestAddr, size, `bad region: addr ${hex2(guestAddr)} size ${size}`);
      }
      if (guestAddr + size > MAX_SAFE_ADDRESS) {
        throw new GuestMemoryError("BAD_REGION", guestAddr, size, `region ${hex2(guestAddr)}+${size} reaches 2^53`);
      }
      if (!Number.isSafeInteger(offset) || offset < 0 || offset + size > init.buffer.byteLength) {
        throw new GuestMemoryError(
          "BAD_REGION",
          guestAddr,
          size,
          `region ${hex2(guestAddr)}+${size} at offset ${offset} does not fit its buffer of ${init.buffer.byteLength} bytes`
        );
      }
      this.guestAddr = guestAddr;
      this.size = size;
      this.end = guestAddr + size;
      this.bytes = new Uint8Array(init.buffer, offset, size);
      this.view = new DataView(init.buffer, offset, size);
    }
  };
  var GuestMemory = class _GuestMemory {
    regions;
    #lastHit = 0;
    /** Set by a successful locate(): byte offset of the range inside the located region's `bytes`. */
    offset = 0;
    constructor(regions) {
      const built = regions.map((r) => new MemoryRegion(r)).sort((a, b) => a.guestAddr - b.guestAddr);
      for (let i = 1; i < built.length; i++) {
        if (built[i].guestAddr < built[i - 1].end) {
          throw new GuestMemoryError(
            "BAD_REGION",
            built[i].guestAddr,
            built[i].size,
            `region ${hex2(built[i].guestAddr)} overlaps region ${hex2(built[i - 1].guestAddr)}+${built[i - 1].size}`
          );
        }
      }
      this.regions = built;
    }
    /** One region of `size` bytes at `guestAddr`, backed by a new SharedArrayBuffer (shareable with workers). */
    static shared(guestAddr, size) {
      return new _GuestMemory([{ guestAddr, size, buffer: new SharedArrayBuffer(size) }]);
    }
    /**
     * Hot path, allocates nothing: the index of the region holding [addr, addr+len) wholly, with `this.offset` set to
     * the range's offset in that region; or a MemoryFault. `addr` must already be a number below 2^53 (see
     * locateWords for a raw 64-bit address).
     */
    locate(addr, len) {
      if (len > MAX_SAFE_ADDRESS - addr) return MemoryFault.TOO_LARGE;
      const end = addr + len;
      const regions = this.regions;
      let r = regions[this.#lastHit];
      if (r !== void 0 && addr >= r.guestAddr && end <= r.end) {
        this.offset = addr - r.guestAddr;
        return this.#lastHit;
      }
      for (let i = 0; i < regions.length; i++) {
        r = regions[i];
        if (addr >= r.guestAddr && addr < r.end) {
          if (end > r.end) return MemoryFault.OUT_OF_RANGE;
          this.#lastHit = i;
          this.offset = addr - r.guestAddr;
          return i;
        }
      }
      if (len === 0) {
        for (let i = 0; i < regions.length; i++) {
          if (addr === regions[i].end) {
            this.offset = regions[i].size;
            return i;
          }
        }
      }
      return MemoryFault.OUT_OF_RANGE;
    }
    /** locate() for a little-endian 64-bit address given as two 32-bit words, as rings store them. */
    locateWords(lo, hi, len) {
      if (hi >= 2097152) {
        return hi === 4294967295 && lo + len > TWO_32 ? MemoryFault.OVERFLOW : MemoryFault.TOO_LARGE;
      }
      return this.locate(hi * TWO_32 + lo, len);
    }
    /**
     * locateWords() for ring parsers' hot path: the bytes of the region holding the range wholly (the range at
     * `this.offset`), or null where locateWords() names a fault. Inside the region of the last hit it is a two-compare
     * check (hi < 2^21 keeps the address exact; a sum past 2^53 rounds up, never into the region).
     */
    bytesWords(lo, hi, len) {
      const addr = hi * TWO_32 + lo;
      const hit = this.regions[this.#lastHit];
      if (hi < 2097152 && hit !== void 0 && addr >= hit.guestAddr && addr + len <= hit.end) {
        this.offset = addr - hit.guestAddr;
        return hit.bytes;
      }
      const r = this.locateWords(lo, hi, len);
      return typeof r === "number" ? this.regions[r].bytes : null;
    }
    /** Convenience (allocates): a view of [addr, addr+len), or a thrown GuestMemoryError. Not for hot paths. */
    translate(addr, len) {
      if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(len) || len < 0) {
        throw new GuestMemoryError(MemoryFault.TOO_LARGE, addr, len, `bad address range ${addr}+${len}`);
      }
      const r = this.locate(addr, len);
      if (typeof r !== "number") throw new GuestMemoryError(r, addr, len, describeFault(r, addr, len));
      return this.regions[r].bytes.subarray(this.offset, this.offset + len);
    }
    /** A DataView of [addr, addr+len) (allocates; for setup, not per buffer). */
    dataView(addr, len) {
      const bytes = this.translate(addr, len);
      return new DataView(bytes.buffer, bytes.byteOffset, len);
    }
  };
  function describeFault(fault, addr, len) {
    switch (fault) {
      case MemoryFault.OUT_OF_RANGE:
        return `range ${hex2(addr)}+${len} is not inside guest memory`;
      case MemoryFault.OVERFLOW:
        return `range at ${hex2(addr)}+${len} wraps past 2^64`;
      case MemoryFault.TOO_LARGE:
        return `range ${hex2(addr)}+${len} reaches 2^53`;
    }
  }
  var hex2 = (n) => Number.isFinite(n) && n >= 0 ? `0x${n.toString(16)}` : String(n);

  // src/spec/features.ts
  var VIRTIO_F_INDIRECT_DESC = 28;
  var VIRTIO_F_EVENT_IDX = 29;
  var VIRTIO_F_VERSION_1 = 32;
  var VIRTIO_F_ACCESS_PLATFORM = 33;
  var VIRTIO_F_RING_PACKED = 34;
  var VIRTIO_F_IN_ORDER = 35;
  var VIRTIO_F_ORDER_PLATFORM = 36;
  var VIRTIO_F_SR_IOV = 37;
  var VIRTIO_F_NOTIFICATION_DATA = 38;
  var VIRTIO_F_NOTIF_CONFIG_DATA = 39;
  var VIRTIO_F_RING_RESET = 40;
  var FEATURE_NAMES = /* @__PURE__ */ new Map([
    [VIRTIO_F_INDIRECT_DESC, "INDIRECT_DESC"],
    [VIRTIO_F_EVENT_IDX, "EVENT_IDX"],
    [VIRTIO_F_VERSION_1, "VERSION_1"],
    [VIRTIO_F_ACCESS_PLATFORM, "ACCESS_PLATFORM"],
    [VIRTIO_F_RING_PACKED, "RING_PACKED"],
    [VIRTIO_F_IN_ORDER, "IN_ORDER"],
    [VIRTIO_F_ORDER_PLATFORM, "ORDER_PLATFORM"],
    [VIRTIO_F_SR_IOV, "SR_IOV"],
    [VIRTIO_F_NOTIFICATION_DATA, "NOTIFICATION_DATA"],
    [VIRTIO_F_NOTIF_CONFIG_DATA, "NOTIF_CONFIG_DATA"],
    [VIRTIO_F_RING_RESET, "RING_RESET"]
  ]);

  // src/virtqueue/features.ts
  var bit = (n) => 1n << BigInt(n);
  var hasFeature = (features, n) => (features & bit(n)) !== 0n;
  var featureMask = (...bits) => bits.reduce((m, b) => m | bit(b), 0n);
  var RING_FEATURES = featureMask(
    VIRTIO_F_VERSION_1,
    VIRTIO_F_INDIRECT_DESC,
    VIRTIO_F_EVENT_IDX,
    VIRTIO_F_IN_ORDER,
    VIRTIO_F_RING_PACKED
  );
  var FeatureNegotiationError = class extends Error {
    name = "FeatureNegotiationError";
  };
  function negotiate(offered, wanted) {
    const accepted = offered & wanted;
    if (!hasFeature(accepted, VIRTIO_F_VERSION_1)) {
      const side = hasFeature(offered, VIRTIO_F_VERSION_1) ? "the driver does not accept it" : "the device does not offer it";
      throw new FeatureNegotiationError(`VIRTIO_F_VERSION_1 is required but ${side}`);
    }
    return accepted;
  }
  function ringFeatures(negotiated) {
    return {
      packed: hasFeature(negotiated, VIRTIO_F_RING_PACKED),
      inOrder: hasFeature(negotiated, VIRTIO_F_IN_ORDER),
      indirect: hasFeature(negotiated, VIRTIO_F_INDIRECT_DESC),
      eventIdx: hasFeature(negotiated, VIRTIO_F_EVENT_IDX)
    };
  }
  function ringWants(o) {
    const bits = [VIRTIO_F_VERSION_1];
    if (o.inOrder) bits.push(VIRTIO_F_IN_ORDER);
    if (o.ring === "packed") bits.push(VIRTIO_F_RING_PACKED);
    if (o.indirect) bits.push(VIRTIO_F_INDIRECT_DESC);
    if (o.eventIdx) bits.push(VIRTIO_F_EVENT_IDX);
    return featureMask(...bits);
  }
  function describeFeatures(features, deviceNames) {
    const names = [];
    for (let n = 0; n < 64; n++) {
      if (hasFeature(features, n)) names.push(FEATURE_NAMES.get(n) ?? deviceNames?.get(n) ?? `bit${n}`);
    }
    return `${names.join(" ") || "(none)"} (0x${features.toString(16)})`;
  }

  // src/spec/packed.ts
  var PVIRTQ_MAX_SIZE = 32768;
  var VIRTQ_DESC_F_NEXT = 1;
  var VIRTQ_DESC_F_WRITE = 2;
  var VIRTQ_DESC_F_INDIRECT = 4;
  var VIRTQ_DESC_F_AVAIL = 1 << 7;
  var VIRTQ_DESC_F_USED = 1 << 15;
  var RING_EVENT_FLAGS_ENABLE = 0;
  var RING_EVENT_FLAGS_DISABLE = 1;
  var RING_EVENT_FLAGS_DESC = 2;
  var PVIRTQ_DESC_SIZE = 16;
  var PVIRTQ_DESC_ALIGN = 16;
  var PVIRTQ_EVENT_SIZE = 4;
  var PVIRTQ_EVENT_ALIGN = 4;
  var EVENT_WRAP_SHIFT = 15;
  var EVENT_OFF_MASK = 32767;
  var packedDescRingSize = (queueSize) => PVIRTQ_DESC_SIZE * queueSize;
  var availFlags = (wrap) => wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;
  var usedFlags = (wrap) => wrap ? VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED : 0;
  var isAvailable = (flags, wrap) => (flags >> 7 & 1) === wrap && (flags >> 15 & 1) !== wrap;
  var isUsed = (flags, wrap) => (flags >> 7 & 1) === wrap && (flags >> 15 & 1) === wrap;
  function packedNeedEvent(offWrap, next, count, wrap, size) {
    let event = offWrap & EVENT_OFF_MASK;
    if (offWrap >>> EVENT_WRAP_SHIFT !== wrap) event -= size;
    return (next - event - 1 & 65535) < (count & 65535);
  }

  // src/virtqueue/chain.ts
  var EMPTY = new Uint8Array(0);
  var Chain = class {
    /** What completes it: the head descriptor index (split) or the Buffer ID (packed). */
    id = 0;
    /** Ring descriptors the chain occupies (1 for an indirect chain): the IN_ORDER skip distance. */
    descCount = 0;
    /** Position in available order, counted from 0 when the queue starts. */
    seq = 0;
    /** Popped and not yet completed. */
    live = false;
    segCount = 0;
    readableCount = 0;
    readableLength = 0;
    writableLength = 0;
    bytes = [];
    offsets = [];
    lengths = [];
    get writableCount() {
      return this.segCount - this.readableCount;
    }
    /** @internal used by ring parsers. */
    reset() {
      this.segCount = 0;
      this.readableCount = 0;
      this.readableLength = 0;
      this.writableLength = 0;
    }
    /** @internal used by ring parsers; the caller has already checked the range and the readable/writable order. */
    push(bytes, offset, length, writable) {
      const i = this.segCount++;
      this.bytes[i] = bytes ?? EMPTY;
      this.offsets[i] = bytes === null ? 0 : offset;
      this.lengths[i] = length;
      if (writable) {
        this.writableLength += length;
      } else {
        this.readableCount++;
        this.readableLength += length;
      }
    }
    /** Segment i as its own view (allocates: for convenience, not for hot paths). */
    segment(i) {
      return this.bytes[i].subarray(this.offsets[i], this.offsets[i] + this.lengths[i]);
    }
    /** Copies the readable bytes out, in order (allocates). */
    readAll() {
      const out = new Uint8Array(this.readableLength);
      let at = 0;
      for (let i = 0; i < this.readableCount; i++) {
        out.set(this.segment(i), at);
        at += this.lengths[i];
      }
      return out;
    }
    /** Copies the readable bytes, in order, into `out` as far as it holds them; returns the bytes copied. */
    readInto(out) {
      let at = 0;
      for (let i = 0; i < this.readableCount && at < out.length; i++) {
        const n = Math.min(this.lengths[i], out.length - at);
        out.set(this.bytes[i].subarray(this.offsets[i], this.offsets[i] + n), at);
        at += n;
      }
      return at;
    }
    /** Writes `data` across the writable segments from their start; returns the bytes written. */
    write(data) {
      let at = 0;
      for (let i = this.readableCount; i < this.segCount && at < data.length; i++) {
        const n = Math.min(this.lengths[i], data.length - at);
        this.bytes[i].set(data.subarray(at, at + n), this.offsets[i]);
        at += n;
      }
      return at;
    }
  };

  // src/virtqueue/errors.ts
  var VirtqueueErrorCode = {
    // Device side: what the driver published.
    AVAIL_IDX_AHEAD: "AVAIL_IDX_AHEAD",
    TOO_MANY_IN_FLIGHT: "TOO_MANY_IN_FLIGHT",
    HEAD_OUT_OF_RANGE: "HEAD_OUT_OF_RANGE",
    HEAD_IN_FLIGHT: "HEAD_IN_FLIGHT",
    NEXT_OUT_OF_RANGE: "NEXT_OUT_OF_RANGE",
    CHAIN_TOO_LONG: "CHAIN_TOO_LONG",
    LENGTH_OVERFLOW: "LENGTH_OVERFLOW",
    READABLE_AFTER_WRITABLE: "READABLE_AFTER_WRITABLE",
    INDIRECT_NOT_NEGOTIATED: "INDIRECT_NOT_NEGOTIATED",
    INDIRECT_BAD_LENGTH: "INDIRECT_BAD_LENGTH",
    INDIRECT_NESTED: "INDIRECT_NESTED",
    INDIRECT_WITH_NEXT: "INDIRECT_WITH_NEXT",
    IN_ORDER_HEAD_UNEXPECTED: "IN_ORDER_HEAD_UNEXPECTED",
    // Packed ring, device side.
    DESC_NOT_AVAILABLE: "DESC_NOT_AVAILABLE",
    INDIRECT_IN_CHAIN: "INDIRECT_IN_CHAIN",
    BUFFER_ID_OUT_OF_RANGE: "BUFFER_ID_OUT_OF_RANGE",
    BUFFER_ID_IN_FLIGHT: "BUFFER_ID_IN_FLIGHT",
    IN_ORDER_NEXT_UNEXPECTED: "IN_ORDER_NEXT_UNEXPECTED",
    ADDRESS_OUT_OF_RANGE: "ADDRESS_OUT_OF_RANGE",
    ADDRESS_OVERFLOW: "ADDRESS_OVERFLOW",
    ADDRESS_TOO_LARGE: "ADDRESS_TOO_LARGE",
    // Driver side: what the device reported.
    USED_IDX_AHEAD: "USED_IDX_AHEAD",
    USED_ID_OUT_OF_RANGE: "USED_ID_OUT_OF_RANGE",
    USED_ID_NOT_IN_FLIGHT: "USED_ID_NOT_IN_FLIGHT",
    USED_LEN_TOO_LARGE: "USED_LEN_TOO_LARGE",
    IN_ORDER_BATCH_UNKNOWN_ID: "IN_ORDER_BATCH_UNKNOWN_ID",
    IN_ORDER_BATCH_OVERRUN: "IN_ORDER_BATCH_OVERRUN"
  };
  var VirtqueueError = class extends Error {
    constructor(code, queue, index, value, detail, exactValue = String(value)) {
      super(`${queue}: ${code} at index ${index} (value ${exactValue}): ${detail}`);
      this.code = code;
      this.queue = queue;
      this.index = index;
      this.value = value;
      this.exactValue = exactValue;
    }
    name = "VirtqueueError";
  };
  var VirtqueueUsageError = class extends Error {
    name = "VirtqueueUsageError";
  };
  var addressText = (lo, hi) => `0x${(BigInt(hi >>> 0) << 32n | BigInt(lo >>> 0)).toString(16)}`;

  // src/virtqueue/chain-reader.ts
  var TWO_322 = 2 ** 32;
  var MAX_CHAIN_BYTES = 4294967295;
  var SegmentReader = class {
    constructor(queue, memory) {
      this.queue = queue;
      this.memory = memory;
    }
    error = null;
    /** Adds descriptor `at` (addr as two 32-bit words) to `chain`; false with `error` set if it is bad. */
    addSegment(chain, at, lo, hi, len, writable) {
      if (!writable && chain.segCount !== chain.readableCount) {
        return this.fail(VirtqueueErrorCode.READABLE_AFTER_WRITABLE, at, len, "a device-readable descriptor follows a writable one");
      }
      const total = chain.readableLength + chain.writableLength + len;
      if (total > MAX_CHAIN_BYTES) {
        return this.fail(VirtqueueErrorCode.LENGTH_OVERFLOW, at, total, "the chain is longer than 2^32 - 1 bytes");
      }
      if (len === 0) {
        chain.push(null, 0, 0, writable);
        return true;
      }
      const bytes = this.locate(at, lo, hi, len);
      if (bytes === null) return false;
      chain.push(bytes, this.memory.offset, len, writable);
      return true;
    }
    /**
     * The guest memory region holding `len` bytes at the address (two 32-bit words) of descriptor `at`, the range at
     * `memory.offset` in it; null with `error` set if the range is not all guest memory.
     */
    locate(at, lo, hi, len) {
      const memory = this.memory;
      const bytes = memory.bytesWords(lo, hi, len);
      if (bytes !== null) return bytes;
      const fault = memory.locateWords(lo, hi, len);
      this.fail(fault, at, hi * TWO_322 + lo, `descriptor ${at}: ${len} bytes`, addressText(lo, hi));
      return null;
    }
    /** Adds entry `index` of an indirect table at byte `o` of `view` (addr at +0 and len at +8, in both layouts). */
    addTableEntry(chain, index, view, o, writable) {
      const lo = view.getUint32(o, true);
      const hi = view.getUint32(o + 4, true);
      return this.addSegment(chain, index, lo, hi, view.getUint32(o + 8, true), writable);
    }
    fail(code, index, value, detail, exactValue) {
      this.error = new VirtqueueError(code, this.queue, index, value, detail, exactValue);
      return false;
    }
  };
  var ChainPool = class {
    #free = [];
    #inFlight = 0;
    #popped = 0;
    #completed = 0;
    constructor(size) {
      for (let i = 0; i < size; i++) this.#free.push(new Chain());
    }
    get inFlight() {
      return this.#inFlight;
    }
    /** A cleared chain to parse into; commit() it on success, giveBack() it on failure. */
    take() {
      const chain = this.#free.pop();
      chain.reset();
      return chain;
    }
    giveBack(chain) {
      this.#free.push(chain);
    }
    commit(chain) {
      chain.seq = this.#popped++;
      chain.live = true;
      this.#inFlight++;
    }
    /** `n` buffers popped as a burst (no Chain objects): returns the position in available order of the first. */
    commitRun(n) {
      const first = this.#popped;
      this.#popped += n;
      this.#inFlight += n;
      return first;
    }
    /** The position in available order of the oldest buffer not completed: IN_ORDER completes it next. */
    get oldestSeq() {
      return this.#completed;
    }
    /** `n` buffers of a burst completed (checked by checkBurstCompletion). */
    releaseRun(n) {
      this.#completed += n;
      this.#inFlight -= n;
    }
    /** Checks a completion made by device code (not a peer: misuse throws) and returns the chain to the pool. */
    release(queue, chain, written, inOrder) {
      if (!chain.live) throw new VirtqueueUsageError(`${queue}: chain ${chain.id} is not in flight`);
      if (inOrder && chain.seq !== this.#completed) {
        throw new VirtqueueUsageError(
          `${queue}: IN_ORDER: chain ${chain.id} (popped #${chain.seq}) completed before #${this.#completed}`
        );
      }
      if (!Number.isInteger(written) || written < 0 || written > chain.writableLength) {
        throw new VirtqueueUsageError(`${queue}: ${written} bytes written to a chain with ${chain.writableLength}`);
      }
      chain.live = false;
      this.#completed++;
      this.#inFlight--;
      this.#free.push(chain);
    }
  };

  // src/virtqueue/buffer-burst.ts
  var EMPTY2 = new Uint8Array(0);
  function checkBurstCompletion(queue, burst, from, count, written, oldestSeq, live) {
    if (!Number.isInteger(from) || !Number.isInteger(count) || from < 0 || count < 0 || from + count > burst.count) {
      throw new VirtqueueUsageError(`${queue}: buffers ${from}+${count} of a burst of ${burst.count}`);
    }
    if (oldestSeq !== null && count > 0 && burst.firstSeq + from !== oldestSeq) {
      throw new VirtqueueUsageError(
        `${queue}: IN_ORDER: buffer #${burst.firstSeq + from} completed before #${oldestSeq} (or completed twice)`
      );
    }
    for (let i = from; i < from + count; i++) {
      if (oldestSeq === null && live[burst.ids[i]] !== 1) {
        throw new VirtqueueUsageError(`${queue}: buffer ${burst.ids[i]} of the burst is not in flight`);
      }
      const w = written[i];
      if (!(w >= 0 && w <= burst.writableLength(i) && Math.floor(w) === w)) {
        throw new VirtqueueUsageError(`${queue}: ${w} bytes written to a buffer with ${burst.writableLength(i)}`);
      }
    }
  }

  // src/virtqueue/ring-views.ts
  var HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  var RingSetupError = class extends Error {
    constructor(queue, message) {
      super(`${queue}: ${message}`);
      this.queue = queue;
    }
    name = "RingSetupError";
  };
  function ringView(queue, memory, what, addr, byteLength, align, ctor) {
    if (!HOST_IS_LITTLE_ENDIAN) throw new RingSetupError(queue, "vqkit needs a little-endian host");
    if (!Number.isSafeInteger(addr) || addr < 0) throw new RingSetupError(queue, `${what} address ${addr} is invalid`);
    if (addr % align !== 0) throw new RingSetupError(queue, `${what} at ${hex2(addr)} is not aligned to ${align}`);
    const r = memory.locate(addr, byteLength);
    if (typeof r !== "number") throw new RingSetupError(queue, `${what}: ${describeFault(r, addr, byteLength)}`);
    const bytes = memory.regions[r].bytes;
    const byteOffset = bytes.byteOffset + memory.offset;
    if (byteOffset % ctor.BYTES_PER_ELEMENT !== 0) {
      throw new RingSetupError(queue, `${what} at ${hex2(addr)} is not ${ctor.BYTES_PER_ELEMENT}-aligned in its buffer`);
    }
    return new ctor(bytes.buffer, byteOffset, Math.ceil(byteLength / ctor.BYTES_PER_ELEMENT));
  }
  function checkQueueSize(queue, size, max, powerOfTwo) {
    if (!Number.isInteger(size) || size < 1 || size > max) {
      throw new RingSetupError(queue, `queue size ${size} is outside 1..${max}`);
    }
    if (powerOfTwo && (size & size - 1) !== 0) {
      throw new RingSetupError(queue, `queue size ${size} is not a power of two (a split ring requires one)`);
    }
  }

  // src/virtqueue/stats.ts
  var newDriverStats = () => ({
    buffersAdded: 0,
    buffersUsed: 0,
    indirectAdded: 0,
    usedEntriesRead: 0,
    kicksWanted: 0,
    kicksSuppressed: 0
  });
  var newDeviceStats = () => ({
    chainsPopped: 0,
    buffersUsed: 0,
    usedEntriesWritten: 0,
    flushes: 0,
    interruptsWanted: 0,
    interruptsSuppressed: 0,
    writeFlagsTolerated: 0
  });

  // src/virtqueue/used-batcher.ts
  var UsedBatcher = class {
    constructor(size, batched) {
      this.batched = batched;
      this.#ids = new Uint32Array(size);
      this.#lens = new Uint32Array(size);
      this.#buffers = new Uint32Array(size);
      this.#descs = new Uint32Array(size);
    }
    /** Entries ready to write: per buffer, or (batched) the runs closed by a partly written buffer. */
    #ids;
    #lens;
    #buffers;
    #descs;
    #entries = 0;
    /** Batched: the open run of fully written buffers (its last buffer's id and length). */
    #runBuffers = 0;
    #runDescs = 0;
    #runId = 0;
    #runLen = 0;
    /** Buffers completed and not yet flushed. */
    pending = 0;
    /** Switches between batched runs and one entry per buffer; only between flushes. */
    setBatched(batched) {
      if (this.pending !== 0) throw new VirtqueueUsageError("the used-entry policy changes only between flushes");
      this.batched = batched;
    }
    add(id, len, full, descs) {
      this.pending++;
      if (!this.batched) {
        this.#push(id, len, 1, descs);
      } else if (full) {
        this.#runBuffers++;
        this.#runDescs += descs;
        this.#runId = id;
        this.#runLen = len;
      } else {
        this.#push(id, len, this.#runBuffers + 1, this.#runDescs + descs);
        this.#runBuffers = 0;
        this.#runDescs = 0;
      }
    }
    /** add() for buffers `from` .. `from + count - 1` of a burst (one descriptor each), completed with `written`. */
    addBurst(burst, from, count, written) {
      const ids = burst.ids;
      const end = from + count;
      this.pending += count;
      if (!this.batched) {
        for (let i = from; i < end; i++) this.#push(ids[i], written[i], 1, 1);
        return;
      }
      let run = this.#runBuffers;
      for (let i = from; i < end; i++) {
        if (written[i] === burst.writableLength(i)) {
          run++;
        } else {
          this.#push(ids[i], written[i], run + 1, this.#runDescs + (run - this.#runBuffers) + 1);
          run = 0;
          this.#runBuffers = 0;
          this.#runDescs = 0;
        }
      }
      if (count > 0 && run > 0) {
        this.#runDescs += run - this.#runBuffers;
        this.#runBuffers = run;
        this.#runId = ids[end - 1];
        this.#runLen = written[end - 1];
      }
    }
    #push(id, len, buffers, descs) {
      const e = this.#entries++;
      this.#ids[e] = id;
      this.#lens[e] = len;
      this.#buffers[e] = buffers;
      this.#descs[e] = descs;
    }
    /** Writes the pending completions into `sink`, clears them, and returns the number of used entries written. */
    drain(sink) {
      let at = 0;
      const n = this.#entries;
      for (let e = 0; e < n; e++) {
        const buffers = this.#buffers[e];
        sink.writeUsed(at, this.#ids[e], this.#lens[e], buffers, this.#descs[e]);
        at += buffers;
      }
      let written = n;
      if (this.#runBuffers > 0) {
        sink.writeUsed(at, this.#runId, this.#runLen, this.#runBuffers, this.#runDescs);
        written++;
        this.#runBuffers = 0;
        this.#runDescs = 0;
      }
      this.#entries = 0;
      this.pending = 0;
      return written;
    }
  };
  function recordFlush(stats, entries, interrupt) {
    stats.flushes++;
    stats.usedEntriesWritten += entries;
    if (interrupt) stats.interruptsWanted++;
    else stats.interruptsSuppressed++;
  }

  // src/virtqueue/packed/event.ts
  function armEvent(ev, eventIdx, pos, wrap) {
    if (eventIdx) {
      Atomics.store(ev, 0, pos | wrap << 15);
      Atomics.store(ev, 1, RING_EVENT_FLAGS_DESC);
    } else {
      Atomics.store(ev, 1, RING_EVENT_FLAGS_ENABLE);
    }
  }
  function disarmEvent(ev) {
    Atomics.store(ev, 1, RING_EVENT_FLAGS_DISABLE);
  }
  function eventWanted(ev, eventIdx, next, count, wrap, size) {
    const flags = Atomics.load(ev, 1) & 3;
    if (flags === RING_EVENT_FLAGS_DESC && eventIdx) return packedNeedEvent(Atomics.load(ev, 0), next, count, wrap, size);
    return flags !== RING_EVENT_FLAGS_DISABLE;
  }

  // src/virtqueue/packed/packed-device.ts
  var PackedDevice = class {
    name;
    size;
    features;
    stats = newDeviceStats();
    error = null;
    #inOrder;
    #eventIdx;
    #indirect;
    #readOnlyTables;
    #desc32;
    #desc16;
    /** The driver's: [off_wrap, flags] (used buffer notifications). */
    #driverEvent;
    /** Ours: [off_wrap, flags] (available buffer notifications). */
    #deviceEvent;
    #memory;
    #reader;
    #pool;
    #used;
    #sink;
    /** Without IN_ORDER: Buffer IDs popped and not completed (reusing one while in flight is an error). */
    #idInFlight;
    /** Descriptors popped whose used descriptor is not written yet: at most the ring size. */
    #outstandingDescs = 0;
    #lastAvail;
    #availWrap;
    #usedPos;
    #usedWrap;
    /** During a flush: where its first used descriptor went, and its flags (written last). */
    #flushFirst = -1;
    #flushFirstFlags = 0;
    #flushDescs = 0;
    constructor(config) {
      const { name, size, memory, addresses, features } = config;
      checkQueueSize(name, size, PVIRTQ_MAX_SIZE, false);
      const rf = ringFeatures(features);
      this.name = name;
      this.size = size;
      this.features = features;
      this.#inOrder = rf.inOrder;
      this.#eventIdx = rf.eventIdx;
      this.#indirect = rf.indirect;
      this.#readOnlyTables = config.readOnlyIndirectTables === true;
      const ringBytes = packedDescRingSize(size);
      this.#desc32 = ringView(name, memory, "descriptor ring", addresses.desc, ringBytes, PVIRTQ_DESC_ALIGN, Uint32Array);
      this.#desc16 = ringView(name, memory, "descriptor ring", addresses.desc, ringBytes, PVIRTQ_DESC_ALIGN, Uint16Array);
      const ev = (what, addr) => ringView(name, memory, what, addr, PVIRTQ_EVENT_SIZE, PVIRTQ_EVENT_ALIGN, Uint16Array);
      this.#driverEvent = ev("driver event suppression", addresses.driver);
      this.#deviceEvent = ev("device event suppression", addresses.device);
      this.#memory = memory;
      this.#reader = new SegmentReader(name, memory);
      this.#pool = new ChainPool(size);
      this.#used = new UsedBatcher(size, rf.inOrder && (config.usedEntries ?? "batched") === "batched");
      this.#idInFlight = new Uint8Array(size);
      const base = config.availBase ?? 1 << 15;
      this.#lastAvail = (base & 32767) % size;
      this.#availWrap = base >>> 15;
      this.#usedPos = this.#lastAvail;
      this.#usedWrap = this.#availWrap;
      const desc16 = this.#desc16;
      const desc32 = this.#desc32;
      this.#sink = {
        writeUsed: (_at, id, len, _buffers, descs) => {
          const pos = this.#usedPos;
          const flags = usedFlags(this.#usedWrap) | (len > 0 ? VIRTQ_DESC_F_WRITE : 0);
          desc32[pos * 4 + 2] = len;
          desc16[pos * 8 + 6] = id;
          if (this.#flushFirst < 0) {
            this.#flushFirst = pos;
            this.#flushFirstFlags = flags;
          } else {
            desc16[pos * 8 + 7] = flags;
          }
          let next = pos + descs;
          if (next >= this.size) {
            next -= this.size;
            this.#usedWrap ^= 1;
          }
          this.#usedPos = next;
          this.#flushDescs += descs;
        }
      };
      Atomics.store(this.#deviceEvent, 1, RING_EVENT_FLAGS_ENABLE);
    }
    get inFlight() {
      return this.#pool.inFlight;
    }
    /** The next descriptor to read, with the wrap counter in bit 15 (what vhost-user GET_VRING_BASE reports). */
    get lastAvailIdx() {
      return this.#lastAvail | this.#availWrap << 15;
    }
    hasAvailable() {
      if (this.error !== null) return false;
      return isAvailable(Atomics.load(this.#desc16, this.#lastAvail * 8 + 7), this.#availWrap);
    }
    pop() {
      if (this.error !== null) return null;
      const head = this.#lastAvail;
      const headFlags = Atomics.load(this.#desc16, head * 8 + 7);
      if (!isAvailable(headFlags, this.#availWrap) || !this.#roomFor(head)) return null;
      const chain = this.#pool.take();
      if (!this.#parse(chain, head, headFlags)) {
        this.#pool.giveBack(chain);
        return null;
      }
      this.#pool.commit(chain);
      if (!this.#inOrder) this.#idInFlight[chain.id] = 1;
      this.#outstandingDescs += chain.descCount;
      this.stats.chainsPopped++;
      return chain;
    }
    popBurst(out, max) {
      if (this.error !== null) return 0;
      const k = this.#availableSingles(Math.min(max, out.capacity));
      const desc16 = this.#desc16;
      const desc32 = this.#desc32;
      const size = this.size;
      const reader = this.#reader;
      const memory = this.#memory;
      const inOrder = this.#inOrder;
      const idInFlight = this.#idInFlight;
      let pos = this.#lastAvail;
      let wrap = this.#availWrap;
      let outstanding = this.#outstandingDescs;
      let suspect = false;
      let i = 0;
      while (i < k) {
        const flags = desc16[pos * 8 + 7];
        if (!isSingle(flags, wrap)) break;
        const w = pos * 4;
        const len = desc32[w + 2];
        const id = desc16[pos * 8 + 6];
        if (outstanding >= size) {
          suspect = true;
          break;
        }
        const bytes = len === 0 ? null : reader.locate(pos, desc32[w], desc32[w + 1], len);
        if (bytes === null && len !== 0) {
          this.error = reader.error;
          break;
        }
        if (id >= size || !inOrder && idInFlight[id] === 1) {
          suspect = true;
          break;
        }
        out.set(i++, id, bytes, memory.offset, len, (flags & VIRTQ_DESC_F_WRITE) !== 0);
        if (!inOrder) idInFlight[id] = 1;
        outstanding++;
        if (++pos === size) {
          pos = 0;
          wrap ^= 1;
        }
      }
      this.#lastAvail = pos;
      this.#availWrap = wrap;
      this.#outstandingDescs = outstanding;
      out.firstSeq = this.#pool.commitRun(i);
      out.count = i;
      this.stats.chainsPopped += i;
      if (suspect && this.#roomFor(pos)) this.#idAcceptable(pos, desc16[pos * 8 + 6], 1);
      return i;
    }
    /**
     * How many buffers from lastAvail on, up to `max`, are available and one descriptor each. As DPDK's vhost reads a
     * batch: the first descriptor's flags with an acquire load, the rest plainly, then one acquire load of the last
     * counted, which orders the reads of every descriptor up to it (a driver makes them available in ring order).
     */
    #availableSingles(max) {
      const desc16 = this.#desc16;
      const size = this.size;
      let pos = this.#lastAvail;
      let wrap = this.#availWrap;
      if (max <= 0 || !isSingle(Atomics.load(desc16, pos * 8 + 7), wrap)) return 0;
      let k = 1;
      while (k < max) {
        let next = pos + 1;
        let nextWrap = wrap;
        if (next === size) {
          next = 0;
          nextWrap ^= 1;
        }
        if (!isSingle(desc16[next * 8 + 7], nextWrap)) break;
        pos = next;
        wrap = nextWrap;
        k++;
      }
      if (k > 1 && !isSingle(Atomics.load(desc16, pos * 8 + 7), wrap)) return 1;
      return k;
    }
    /**
     * Whether another buffer at `head` can be in flight. A driver has only `size` descriptors: one more available while
     * all are outstanding means it reused some (and every chain of the pool is taken), which breaks the queue.
     */
    #roomFor(head) {
      if (this.#outstandingDescs < this.size) return true;
      return this.#failed(
        VirtqueueErrorCode.TOO_MANY_IN_FLIGHT,
        head,
        this.#outstandingDescs + 1,
        `the ring holds ${this.size} descriptors`
      );
    }
    /** Whether the buffer at `head` may carry Buffer ID `id` and occupy `count` more descriptors; else breaks the queue. */
    #idAcceptable(head, id, count) {
      const size = this.size;
      if (id >= size) return this.#failed(VirtqueueErrorCode.BUFFER_ID_OUT_OF_RANGE, head, id, `queue size is ${size}`);
      if (!this.#inOrder && this.#idInFlight[id] === 1) {
        return this.#failed(VirtqueueErrorCode.BUFFER_ID_IN_FLIGHT, head, id, "Buffer ID reused while still in flight");
      }
      if (this.#outstandingDescs + count > size) {
        return this.#failed(
          VirtqueueErrorCode.TOO_MANY_IN_FLIGHT,
          head,
          this.#outstandingDescs + count,
          `the ring holds ${size} descriptors`
        );
      }
      return true;
    }
    /** Reads the list at `head` into `chain` and moves past it; false (queue broken) on the first bad descriptor. */
    #parse(chain, head, headFlags) {
      const desc32 = this.#desc32;
      const desc16 = this.#desc16;
      const size = this.size;
      let pos = head;
      let wrap = this.#availWrap;
      let flags = headFlags;
      let count = 0;
      let id = 0;
      for (; ; ) {
        count++;
        if (count > 1) {
          flags = desc16[pos * 8 + 7];
          if (!isAvailable(flags, wrap)) {
            return this.#failed(
              VirtqueueErrorCode.DESC_NOT_AVAILABLE,
              pos,
              flags,
              `mid-list descriptor not available for wrap counter ${wrap}`
            );
          }
        }
        const w = pos * 4;
        if (flags & VIRTQ_DESC_F_INDIRECT) {
          if (!this.#indirect)
            return this.#failed(VirtqueueErrorCode.INDIRECT_NOT_NEGOTIATED, pos, flags, "INDIRECT_DESC was not negotiated");
          if (flags & VIRTQ_DESC_F_NEXT)
            return this.#failed(VirtqueueErrorCode.INDIRECT_WITH_NEXT, pos, flags, "INDIRECT together with NEXT");
          if (count > 1)
            return this.#failed(VirtqueueErrorCode.INDIRECT_IN_CHAIN, pos, flags, "an indirect descriptor inside a NEXT list");
          if (!this.#readIndirect(chain, pos, desc32[w], desc32[w + 1], desc32[w + 2])) return false;
        } else if (!this.#reader.addSegment(
          chain,
          pos,
          desc32[w],
          desc32[w + 1],
          desc32[w + 2],
          (flags & VIRTQ_DESC_F_WRITE) !== 0
        )) {
          return this.#failedWith(this.#reader.error);
        }
        id = desc16[pos * 8 + 6];
        if (++pos === size) {
          pos = 0;
          wrap ^= 1;
        }
        if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
        if (count === size) return this.#failed(VirtqueueErrorCode.CHAIN_TOO_LONG, head, count + 1, "the list is longer than the ring");
      }
      if (!this.#idAcceptable(head, id, count)) return false;
      chain.id = id;
      chain.descCount = count;
      this.#lastAvail = pos;
      this.#availWrap = wrap;
      return true;
    }
    /** An indirect table: len / 16 descriptors one after another; only WRITE is valid in them. */
    #readIndirect(chain, at, lo, hi, len) {
      if (len === 0 || len % PVIRTQ_DESC_SIZE !== 0 || len / PVIRTQ_DESC_SIZE > this.size) {
        return this.#failed(
          VirtqueueErrorCode.INDIRECT_BAD_LENGTH,
          at,
          len,
          `an indirect table holds 1..${this.size} descriptors of 16 bytes`
        );
      }
      const memory = this.#memory;
      const r = memory.locateWords(lo, hi, len);
      if (typeof r !== "number")
        return this.#failed(r, at, hi * 2 ** 32 + lo, `indirect table of ${len} bytes`, addressText(lo, hi));
      const view = memory.regions[r].view;
      const base = memory.offset;
      const reader = this.#reader;
      let tolerated = false;
      for (let i = 0, n = len / PVIRTQ_DESC_SIZE; i < n; i++) {
        const o = base + i * PVIRTQ_DESC_SIZE;
        const flags = view.getUint16(o + 14, true);
        if (flags & VIRTQ_DESC_F_INDIRECT)
          return this.#failed(VirtqueueErrorCode.INDIRECT_NESTED, at, i, "an indirect table entry has INDIRECT set");
        let writable = (flags & VIRTQ_DESC_F_WRITE) !== 0;
        if (writable && this.#readOnlyTables) {
          writable = false;
          tolerated = true;
        }
        if (!reader.addTableEntry(chain, i, view, o, writable)) return this.#failedWith(reader.error);
      }
      if (tolerated) this.stats.writeFlagsTolerated++;
      return true;
    }
    complete(chain, written) {
      this.#pool.release(this.name, chain, written, this.#inOrder);
      if (!this.#inOrder) this.#idInFlight[chain.id] = 0;
      this.#used.add(chain.id, written, written === chain.writableLength, chain.descCount);
      this.stats.buffersUsed++;
    }
    completeBurst(burst, from, count, written) {
      const pool = this.#pool;
      checkBurstCompletion(
        this.name,
        burst,
        from,
        count,
        written,
        this.#inOrder ? pool.oldestSeq : null,
        this.#idInFlight
      );
      if (!this.#inOrder) for (let i = from; i < from + count; i++) this.#idInFlight[burst.ids[i]] = 0;
      this.#used.addBurst(burst, from, count, written);
      pool.releaseRun(count);
      this.stats.buffersUsed += count;
    }
    setUsedEntries(policy) {
      this.#used.setBatched(this.#inOrder && policy === "batched");
    }
    flush() {
      if (this.#used.pending === 0) return false;
      this.#flushFirst = -1;
      this.#flushDescs = 0;
      const entries = this.#used.drain(this.#sink);
      Atomics.store(this.#desc16, this.#flushFirst * 8 + 7, this.#flushFirstFlags);
      const descs = this.#flushDescs;
      this.#outstandingDescs -= descs;
      const need = eventWanted(this.#driverEvent, this.#eventIdx, this.#usedPos, descs, this.#usedWrap, this.size);
      recordFlush(this.stats, entries, need);
      return need;
    }
    disableNotifications() {
      disarmEvent(this.#deviceEvent);
    }
    enableNotifications() {
      armEvent(this.#deviceEvent, this.#eventIdx, this.#lastAvail, this.#availWrap);
      return !this.hasAvailable();
    }
    #failed(code, index, value, detail, exactValue) {
      this.error = new VirtqueueError(code, this.name, index, value, detail, exactValue);
      return false;
    }
    #failedWith(error) {
      this.error = error;
      return false;
    }
  };
  var isSingle = (flags, wrap) => (flags & SINGLE_MASK) === availFlags(wrap);
  var SINGLE_MASK = VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED | VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT;

  // src/virtqueue/descriptor-words.ts
  var TWO_323 = 2 ** 32;
  var highWord = (addr) => (addr - (addr >>> 0)) / TWO_323;
  function storeChangedWords(words, d, addr, len, last) {
    const w = d * 4;
    const lo = addr >>> 0;
    const hi = highWord(addr);
    if (words[w] !== lo) words[w] = lo;
    if (words[w + 1] !== hi) words[w + 1] = hi;
    if (words[w + 2] !== len) words[w + 2] = len;
    if (words[w + 3] !== last) words[w + 3] = last;
  }

  // src/virtqueue/in-flight.ts
  var InFlightBuffers = class {
    constructor(size, stats) {
      this.size = size;
      this.stats = stats;
      this.#tokens = new Array(size).fill(void 0);
      this.#descs = new Uint16Array(size);
      this.#writable = new Float64Array(size);
      this.#addSeq = new Float64Array(size);
      this.numFree = size;
    }
    #tokens;
    #descs;
    #writable;
    #addSeq;
    #count = 0;
    #added = 0;
    #oldestSeq = 0;
    #batchLeft = 0;
    #batchLen = 0;
    /** Free ring descriptors. */
    numFree;
    /** After takeRun(): the key of the oldest buffer still in flight. */
    nextKey = 0;
    get count() {
      return this.#count;
    }
    /** Buffers of the current IN_ORDER batch still to hand out. */
    get batchLeft() {
      return this.#batchLeft;
    }
    descs(id) {
      return this.#descs[id];
    }
    add(id, token, descs, writable) {
      this.place(id, token, descs, writable, 0);
      this.added(1, descs);
    }
    /**
     * For a burst: records the `k`-th buffer of it (`descs` descriptors) without counting it; added() counts the whole
     * burst once it is placed.
     */
    place(id, token, descs, writable, k) {
      this.#tokens[id] = token;
      this.#descs[id] = descs;
      this.#writable[id] = writable;
      this.#addSeq[id] = this.#added + k;
    }
    /** Counts `n` buffers placed, taking `descs` descriptors in all. */
    added(n, descs) {
      this.#added += n;
      this.#count += n;
      this.numFree -= descs;
      this.stats.buffersAdded += n;
    }
    /** What is wrong with a used entry (id, len), or null. */
    check(id, len, inOrder) {
      if (id >= this.size) return { code: VirtqueueErrorCode.USED_ID_OUT_OF_RANGE, value: id, detail: `queue size is ${this.size}` };
      if (this.#tokens[id] === void 0) {
        return inOrder ? { code: VirtqueueErrorCode.IN_ORDER_BATCH_UNKNOWN_ID, value: id, detail: "the batch names no in-flight buffer" } : { code: VirtqueueErrorCode.USED_ID_NOT_IN_FLIGHT, value: id, detail: "no buffer with that id is in flight" };
      }
      if (len > this.#writable[id]) {
        return {
          code: VirtqueueErrorCode.USED_LEN_TOO_LARGE,
          value: len,
          detail: `buffer ${id} has ${this.#writable[id]} writable bytes`
        };
      }
      return null;
    }
    /** IN_ORDER: how many buffers a used entry naming `id` (in flight) completes: it and every older one. */
    batchSize(id) {
      return this.#addSeq[id] - this.#oldestSeq + 1;
    }
    /** IN_ORDER: a used entry named a buffer `batch` buffers deep, with length `len` for that last one. */
    startBatch(batch, len) {
      this.#batchLeft = batch;
      this.#batchLen = len;
    }
    /** IN_ORDER: the length the oldest buffer `id` of the current batch comes back with. */
    nextInBatch(id) {
      this.#oldestSeq++;
      return --this.#batchLeft === 0 ? this.#batchLen : this.#writable[id];
    }
    /**
     * IN_ORDER: takes back `k` buffers of the current batch at once (at most batchLeft), oldest first from key `first`,
     * their tokens and lengths into `tokens` and `lens` from `at`. Keys follow each other by one (packed Buffer IDs) or
     * by each buffer's descriptor count (split heads). Returns the descriptors freed; `nextKey` is the oldest after.
     */
    takeRun(first, k, keysByDescs, tokens, lens, at) {
      const size = this.size;
      const last = this.#batchLeft === k ? k - 1 : -1;
      let key = first;
      let descs = 0;
      for (let i = 0; i < k; i++) {
        tokens[at + i] = this.#tokens[key];
        this.#tokens[key] = void 0;
        lens[at + i] = i === last ? this.#batchLen : this.#writable[key];
        const d = this.#descs[key];
        descs += d;
        key += keysByDescs ? d : 1;
        if (key >= size) key -= size;
      }
      this.nextKey = key;
      this.#batchLeft -= k;
      this.#oldestSeq += k;
      this.#count -= k;
      this.numFree += descs;
      this.stats.buffersUsed += k;
      return descs;
    }
    /** Takes buffer `id` back: frees its descriptors and returns its token. */
    release(id) {
      const token = this.#tokens[id];
      this.#tokens[id] = void 0;
      this.numFree += this.#descs[id];
      this.#count--;
      this.stats.buffersUsed++;
      return token;
    }
  };

  // src/virtqueue/scatter-list.ts
  var ScatterList = class {
    /** Guest address of each segment. */
    addrs = [];
    /** Length of each segment. */
    lens = [];
    /** Segments in the list. */
    count = 0;
    /** Device-readable segments (the first ones). */
    readableCount = 0;
    /** Bytes of the device-writable segments. */
    writableLength = 0;
    /** Empties the list for the next buffer (keeps its arrays). */
    reset() {
      this.count = 0;
      this.readableCount = 0;
      this.writableLength = 0;
      return this;
    }
    /** Adds a device-readable segment; throws VirtqueueUsageError after a writable one. */
    addReadable(addr, len) {
      if (this.count !== this.readableCount) {
        throw new VirtqueueUsageError("device-readable segments must come before device-writable ones");
      }
      this.#push(addr, len);
      this.readableCount++;
      return this;
    }
    /** Adds a device-writable segment. */
    addWritable(addr, len) {
      this.#push(addr, len);
      this.writableLength += len;
      return this;
    }
    /** Device-writable segments (the last ones). */
    get writableCount() {
      return this.count - this.readableCount;
    }
    #push(addr, len) {
      checkSegment(addr, len);
      this.addrs[this.count] = addr;
      this.lens[this.count] = len;
      this.count++;
    }
  };
  function checkSegment(addr, len) {
    if (!(addr >= 0 && addr <= Number.MAX_SAFE_INTEGER && Math.floor(addr) === addr) || len >>> 0 !== len) {
      throw new VirtqueueUsageError(`bad segment ${addr}+${len}`);
    }
  }
  function checkBurst(queue, addrs, lens, tokens, count) {
    for (let i = 0; i < count; i++) {
      checkSegment(addrs[i], lens[i]);
      if (tokens[i] === void 0) throw new VirtqueueUsageError(`${queue}: a buffer's token must not be undefined`);
    }
  }

  // src/virtqueue/packed/packed-driver.ts
  var PackedDriver = class {
    name;
    size;
    features;
    stats = newDriverStats();
    error = null;
    usedLen = 0;
    #inOrder;
    #eventIdx;
    /** Descriptor ring as 32-bit words (addr lo, addr hi, len, id | flags << 16) and as 16-bit words (id at 8d + 6, flags at 8d + 7). */
    #desc32;
    #desc16;
    /**
     * What the descriptor ring holds, as far as the driver knows: addr lo, addr hi, len and Buffer ID of each
     * descriptor, in private memory. add() compares against it instead of loading the shared ring: a driver that
     * recycles its buffers in order rewrites only the flags, and never reads a line the device is polling. Used
     * descriptors the driver takes back are copied into it (the device wrote their id and len).
     */
    #shadow;
    /** Ours: [off_wrap, flags], read by the device (used buffer notifications). */
    #driverEvent;
    /** The device's: [off_wrap, flags] (available buffer notifications). */
    #deviceEvent;
    /** The driver's own record of each in-flight buffer, by Buffer ID. */
    #buffers;
    /** Without IN_ORDER: free Buffer IDs, a FIFO ring (reused oldest-freed first). */
    #freeIds;
    #freeAt = 0;
    #freeCount;
    /**
     * IN_ORDER: Buffer IDs are handed out in sequence and come back in the same sequence, so no ID list is kept: the
     * next ID to hand out and the oldest in flight are counters.
     */
    #nextId = 0;
    #oldestId = 0;
    #nextAvail = 0;
    #availWrap = 1;
    #lastUsed = 0;
    #usedWrap = 1;
    /** The first buffer added since the last kickPrepare(): its head position and held-back flags (-1: none). */
    #heldHead = -1;
    #heldFlags = 0;
    /** Descriptors made available since the last kickPrepare(). */
    #addedDescs = 0;
    #indirect;
    #indirectArea;
    #indirectMax;
    #autoIndirectAbove;
    constructor(config) {
      const { name, size, memory, addresses, features } = config;
      checkQueueSize(name, size, PVIRTQ_MAX_SIZE, false);
      const rf = ringFeatures(features);
      if (!rf.packed) throw new VirtqueueUsageError(`${name}: RING_PACKED not negotiated; use the split driver`);
      this.name = name;
      this.size = size;
      this.features = features;
      this.#inOrder = rf.inOrder;
      this.#eventIdx = rf.eventIdx;
      const ringBytes = packedDescRingSize(size);
      this.#desc32 = ringView(name, memory, "descriptor ring", addresses.desc, ringBytes, PVIRTQ_DESC_ALIGN, Uint32Array);
      this.#desc16 = ringView(name, memory, "descriptor ring", addresses.desc, ringBytes, PVIRTQ_DESC_ALIGN, Uint16Array);
      this.#shadow = new Uint32Array(size * 4);
      const ev = (what, addr) => ringView(name, memory, what, addr, PVIRTQ_EVENT_SIZE, PVIRTQ_EVENT_ALIGN, Uint16Array);
      this.#driverEvent = ev("driver event suppression", addresses.driver);
      this.#deviceEvent = ev("device event suppression", addresses.device);
      this.#buffers = new InFlightBuffers(size, this.stats);
      this.#freeIds = new Uint16Array(size);
      for (let i = 0; i < size; i++) this.#freeIds[i] = i;
      this.#freeCount = size;
      this.#autoIndirectAbove = config.autoIndirectAbove ?? 1;
      const indirectMax = Math.min(config.indirectMax ?? 0, size);
      if (rf.indirect && config.indirectArea !== void 0 && indirectMax > 0) {
        const bytes = size * indirectMax * PVIRTQ_DESC_SIZE;
        this.#indirect = ringView(
          name,
          memory,
          "indirect tables",
          config.indirectArea,
          bytes,
          PVIRTQ_DESC_ALIGN,
          Uint32Array
        );
        this.#indirectArea = config.indirectArea;
        this.#indirectMax = indirectMax;
      } else {
        this.#indirect = null;
        this.#indirectArea = 0;
        this.#indirectMax = 0;
      }
      this.#desc32.fill(0);
      Atomics.store(this.#driverEvent, 0, 0);
      Atomics.store(this.#driverEvent, 1, RING_EVENT_FLAGS_ENABLE);
    }
    get numFree() {
      return this.#buffers.numFree;
    }
    get inFlight() {
      return this.#buffers.count;
    }
    #usesIndirect(sg, indirect) {
      const wanted = indirect === "auto" ? sg.count > this.#autoIndirectAbove : indirect;
      return wanted && this.#indirect !== null && sg.count <= this.#indirectMax;
    }
    canAdd(sg, indirect) {
      return sg.count > 0 && this.#freeCount > 0 && this.#buffers.numFree >= (this.#usesIndirect(sg, indirect) ? 1 : sg.count);
    }
    add(sg, token, indirect) {
      if (this.error !== null) return false;
      if (token === void 0) throw new VirtqueueUsageError(`${this.name}: a buffer's token must not be undefined`);
      const n = sg.count;
      if (n === 0) throw new VirtqueueUsageError(`${this.name}: a buffer needs at least one segment`);
      const viaTable = this.#usesIndirect(sg, indirect);
      const ringDescs = viaTable ? 1 : n;
      if (ringDescs > this.#buffers.numFree || this.#buffers.count === this.size) {
        throw new VirtqueueUsageError(`${this.name}: ${ringDescs} descriptors needed, ${this.#buffers.numFree} free`);
      }
      const id = this.#allocateId();
      const head = this.#nextAvail;
      let pos = head;
      let wrap = this.#availWrap;
      let headFlags = 0;
      if (viaTable) {
        const table2 = this.#indirect;
        const base = id * this.#indirectMax;
        for (let i = 0; i < n; i++) {
          writeTableEntry(table2, base + i, sg.addrs[i], sg.lens[i], i >= sg.readableCount ? VIRTQ_DESC_F_WRITE : 0);
        }
        this.#writeDesc(pos, this.#indirectArea + base * PVIRTQ_DESC_SIZE, n * PVIRTQ_DESC_SIZE, id, -1);
        headFlags = VIRTQ_DESC_F_INDIRECT | availFlags(wrap);
        if (++pos === this.size) {
          pos = 0;
          wrap ^= 1;
        }
        this.stats.indirectAdded++;
      } else {
        for (let i = 0; i < n; i++) {
          let flags = availFlags(wrap);
          if (i >= sg.readableCount) flags |= VIRTQ_DESC_F_WRITE;
          if (i < n - 1) flags |= VIRTQ_DESC_F_NEXT;
          if (i === 0) {
            this.#writeDesc(pos, sg.addrs[i], sg.lens[i], id, -1);
            headFlags = flags;
          } else {
            this.#writeDesc(pos, sg.addrs[i], sg.lens[i], id, flags);
          }
          if (++pos === this.size) {
            pos = 0;
            wrap ^= 1;
          }
        }
      }
      this.#nextAvail = pos;
      this.#availWrap = wrap;
      if (this.#heldHead < 0) {
        this.#heldHead = head;
        this.#heldFlags = headFlags;
      } else {
        this.#desc16[head * 8 + 7] = headFlags;
      }
      this.#addedDescs += ringDescs;
      this.#buffers.add(id, token, ringDescs, sg.writableLength);
      return true;
    }
    addBurst(addrs, lens, tokens, count, writable) {
      if (this.error !== null) return 0;
      const buffers = this.#buffers;
      const room = Math.min(count, buffers.numFree);
      checkBurst(this.name, addrs, lens, tokens, room);
      const segmentFlags = writable ? VIRTQ_DESC_F_WRITE : 0;
      const size = this.size;
      let pos = this.#nextAvail;
      let wrap = this.#availWrap;
      for (let i = 0; i < room; i++) {
        const id = this.#allocateId();
        const len = lens[i];
        if (this.#heldHead < 0) {
          this.#writeDesc(pos, addrs[i], len, id, -1);
          this.#heldHead = pos;
          this.#heldFlags = segmentFlags | availFlags(wrap);
        } else {
          this.#writeDesc(pos, addrs[i], len, id, segmentFlags | availFlags(wrap));
        }
        buffers.place(id, tokens[i], 1, writable ? len : 0, i);
        if (++pos === size) {
          pos = 0;
          wrap ^= 1;
        }
      }
      buffers.added(room, room);
      this.#nextAvail = pos;
      this.#availWrap = wrap;
      this.#addedDescs += room;
      return room;
    }
    /** A Buffer ID for the next buffer: the next in sequence under IN_ORDER, else the oldest freed. */
    #allocateId() {
      if (this.#inOrder) {
        const id2 = this.#nextId;
        this.#nextId = id2 + 1 === this.size ? 0 : id2 + 1;
        return id2;
      }
      const id = this.#freeIds[this.#freeAt];
      this.#freeAt = this.#freeAt + 1 === this.size ? 0 : this.#freeAt + 1;
      this.#freeCount--;
      return id;
    }
    kickPrepare() {
      if (this.#heldHead < 0 || this.error !== null) return false;
      Atomics.store(this.#desc16, this.#heldHead * 8 + 7, this.#heldFlags);
      this.#heldHead = -1;
      const added = this.#addedDescs;
      this.#addedDescs = 0;
      const need = eventWanted(this.#deviceEvent, this.#eventIdx, this.#nextAvail, added, this.#availWrap, this.size);
      if (need) this.stats.kicksWanted++;
      else this.stats.kicksSuppressed++;
      return need;
    }
    hasUsed() {
      if (this.error !== null) return false;
      if (this.#buffers.batchLeft > 0) return true;
      return this.#buffers.count > 0 && isUsed(Atomics.load(this.#desc16, this.#lastUsed * 8 + 7), this.#usedWrap);
    }
    takeUsed() {
      if (this.error !== null) return void 0;
      if (this.#buffers.batchLeft > 0) return this.#takeOldest();
      return this.#buffers.count > 0 ? this.#takeEntry() : void 0;
    }
    takeUsedBurst(tokens, lens, max) {
      let n = 0;
      while (n < max) {
        if (this.#buffers.batchLeft > 0 && this.error === null) {
          n += this.#takeRun(tokens, lens, n, max - n);
          continue;
        }
        const token = this.takeUsed();
        if (token === void 0) break;
        tokens[n] = token;
        lens[n++] = this.usedLen;
      }
      return n;
    }
    /** Reads the used descriptor at lastUsed, if there is one, and hands out its buffer (IN_ORDER: its batch's oldest). */
    #takeEntry() {
      const buffers = this.#buffers;
      const pos = this.#lastUsed;
      const flags = Atomics.load(this.#desc16, pos * 8 + 7);
      if (!isUsed(flags, this.#usedWrap)) return void 0;
      const id = this.#desc16[pos * 8 + 6];
      const len = flags & VIRTQ_DESC_F_WRITE ? this.#desc32[pos * 4 + 2] : 0;
      this.#resync(pos);
      this.stats.usedEntriesRead++;
      const problem = buffers.check(id, len, this.#inOrder);
      if (problem !== null) return this.#fail(problem.code, pos, problem.value, problem.detail);
      if (this.#inOrder) {
        buffers.startBatch(buffers.batchSize(id), len);
        return this.#takeOldest();
      }
      this.usedLen = len;
      return this.#release(id);
    }
    /** IN_ORDER: up to `max` buffers of the current batch at once; the used position skips all their descriptors. */
    #takeRun(tokens, lens, at, max) {
      const buffers = this.#buffers;
      const k = Math.min(max, buffers.batchLeft);
      let pos = this.#lastUsed + buffers.takeRun(this.#oldestId, k, false, tokens, lens, at);
      this.#oldestId = buffers.nextKey;
      if (pos >= this.size) {
        pos -= this.size;
        this.#usedWrap ^= 1;
      }
      this.#lastUsed = pos;
      return k;
    }
    /** IN_ORDER: hand out the oldest in-flight buffer of the current batch. */
    #takeOldest() {
      const id = this.#oldestId;
      this.#oldestId = id + 1 === this.size ? 0 : id + 1;
      this.usedLen = this.#buffers.nextInBatch(id);
      return this.#release(id);
    }
    /** Skips the buffer's descriptors (a used descriptor stands for all of them) and frees its Buffer ID. */
    #release(id) {
      let pos = this.#lastUsed + this.#buffers.descs(id);
      if (pos >= this.size) {
        pos -= this.size;
        this.#usedWrap ^= 1;
      }
      this.#lastUsed = pos;
      if (!this.#inOrder) {
        this.#freeIds[wrapIndex(this.#freeAt + this.#freeCount, this.size)] = id;
        this.#freeCount++;
      }
      return this.#buffers.release(id);
    }
    /**
     * Stores a descriptor's addr, len and Buffer ID where they differ from what the ring holds, and its flags unless
     * `flags` is -1 (a head, whose flags are written last).
     */
    #writeDesc(d, addr, len, id, flags) {
      const words = this.#desc32;
      const shadow = this.#shadow;
      const w = d * 4;
      const lo = addr >>> 0;
      const hi = highWord(addr);
      if (shadow[w] !== lo) words[w] = shadow[w] = lo;
      if (shadow[w + 1] !== hi) words[w + 1] = shadow[w + 1] = hi;
      if (shadow[w + 2] !== len) words[w + 2] = shadow[w + 2] = len;
      if (flags >= 0) {
        words[w + 3] = (id | flags << 16) >>> 0;
        shadow[w + 3] = id;
      } else if (shadow[w + 3] !== id) {
        this.#desc16[d * 8 + 6] = shadow[w + 3] = id;
      }
    }
    /** The device wrote the used descriptor at `d`: what the ring holds there now. */
    #resync(d) {
      const w = d * 4;
      const words = this.#desc32;
      const shadow = this.#shadow;
      shadow[w] = words[w];
      shadow[w + 1] = words[w + 1];
      shadow[w + 2] = words[w + 2];
      shadow[w + 3] = this.#desc16[d * 8 + 6];
    }
    disableInterrupts() {
      disarmEvent(this.#driverEvent);
    }
    enableInterrupts() {
      armEvent(this.#driverEvent, this.#eventIdx, this.#lastUsed, this.#usedWrap);
      return !this.hasUsed();
    }
    #fail(code, index, value, detail) {
      this.error = new VirtqueueError(code, this.name, index, value, detail);
      return void 0;
    }
  };
  var wrapIndex = (i, size) => i >= size ? i - size : i;
  var writeTableEntry = (words, d, addr, len, flags) => storeChangedWords(words, d, addr, len, flags << 16 >>> 0);

  // src/spec/split.ts
  var VIRTQ_SPLIT_MAX_SIZE = 32768;
  var VIRTQ_DESC_F_NEXT2 = 1;
  var VIRTQ_DESC_F_WRITE2 = 2;
  var VIRTQ_DESC_F_INDIRECT2 = 4;
  var VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
  var VIRTQ_USED_F_NO_NOTIFY = 1;
  var VIRTQ_DESC_SIZE = 16;
  var VIRTQ_DESC_ALIGN = 16;
  var VIRTQ_AVAIL_ALIGN = 2;
  var VIRTQ_USED_ALIGN = 4;
  var VIRTQ_USED_ELEM_SIZE = 8;
  var descTableSize = (queueSize) => VIRTQ_DESC_SIZE * queueSize;
  var availRingSize = (queueSize) => 6 + 2 * queueSize;
  var usedRingSize = (queueSize) => 6 + VIRTQ_USED_ELEM_SIZE * queueSize;
  function needEvent(eventIdx, newIdx, oldIdx) {
    return (newIdx - eventIdx - 1 & 65535) < (newIdx - oldIdx & 65535);
  }

  // src/virtqueue/split/split-device.ts
  var SplitDevice = class {
    name;
    size;
    features;
    stats = newDeviceStats();
    error = null;
    #mask;
    #inOrder;
    #eventIdx;
    #indirect;
    #desc;
    #avail;
    #used16;
    #used32;
    #usedEventAt;
    #availEventAt;
    #memory;
    #reader;
    #pool;
    /** 1 for each head popped and not yet completed: a driver that makes one available again is reusing it. */
    #headLive;
    #used;
    /** Writes used entries for #used.drain(); made once so flushing allocates nothing. */
    #sink;
    /** used idx before the flush in progress. */
    #flushBase = 0;
    #lastAvail;
    /** The driver's avail idx as last loaded. */
    #availIdx;
    #usedIdx;
    /** IN_ORDER: the head the next chain must start at; -1 when resuming a ring (not known until the first chain). */
    #nextInOrder;
    constructor(config) {
      const { name, size, memory, addresses, features } = config;
      checkQueueSize(name, size, VIRTQ_SPLIT_MAX_SIZE, true);
      const rf = ringFeatures(features);
      this.name = name;
      this.size = size;
      this.features = features;
      this.#mask = size - 1;
      this.#inOrder = rf.inOrder;
      this.#eventIdx = rf.eventIdx;
      this.#indirect = rf.indirect;
      this.#desc = ringView(
        name,
        memory,
        "descriptor table",
        addresses.desc,
        descTableSize(size),
        VIRTQ_DESC_ALIGN,
        Uint32Array
      );
      this.#avail = ringView(
        name,
        memory,
        "avail ring",
        addresses.driver,
        availRingSize(size),
        VIRTQ_AVAIL_ALIGN,
        Uint16Array
      );
      this.#used16 = ringView(
        name,
        memory,
        "used ring",
        addresses.device,
        usedRingSize(size),
        VIRTQ_USED_ALIGN,
        Uint16Array
      );
      this.#used32 = ringView(
        name,
        memory,
        "used ring",
        addresses.device,
        usedRingSize(size) - 2,
        VIRTQ_USED_ALIGN,
        Uint32Array
      );
      this.#usedEventAt = 2 + size;
      this.#availEventAt = 2 + 4 * size;
      this.#memory = memory;
      this.#reader = new SegmentReader(name, memory);
      this.#pool = new ChainPool(size);
      this.#headLive = new Uint8Array(size);
      this.#used = new UsedBatcher(size, rf.inOrder && (config.usedEntries ?? "batched") === "batched");
      const used32 = this.#used32;
      const mask = this.#mask;
      this.#sink = {
        writeUsed: (at, id, len) => {
          const slot = this.#flushBase + at & mask;
          used32[1 + 2 * slot] = id;
          used32[2 + 2 * slot] = len;
        }
      };
      this.#usedIdx = Atomics.load(this.#used16, 1);
      const given = (config.availBase ?? this.#usedIdx) & 65535;
      if (given !== this.#usedIdx) this.resumedFromUsed = { given, used: this.#usedIdx };
      this.#lastAvail = this.#usedIdx;
      this.#availIdx = this.#lastAvail;
      this.#nextInOrder = this.#lastAvail === 0 && this.#usedIdx === 0 ? 0 : -1;
      Atomics.store(this.#used16, 0, 0);
    }
    /** Set when the resume point given (availBase) was not the used idx in memory, which the ring resumed from. */
    resumedFromUsed = null;
    get inFlight() {
      return this.#pool.inFlight;
    }
    /** The next avail index the device will read (what vhost-user GET_VRING_BASE reports). */
    get lastAvailIdx() {
      return this.#lastAvail;
    }
    hasAvailable() {
      if (this.error !== null) return false;
      return this.#lastAvail !== this.#availIdx || this.#lastAvail !== Atomics.load(this.#avail, 1);
    }
    pop() {
      const head = this.#nextHead();
      if (head < 0) return null;
      const chain = this.#pool.take();
      if (!this.#parse(chain, head)) {
        this.#pool.giveBack(chain);
        return null;
      }
      chain.id = head;
      this.#pool.commit(chain);
      this.#accept(head, chain.descCount);
      this.stats.chainsPopped++;
      return chain;
    }
    popBurst(out, max) {
      if (this.error !== null) return 0;
      const n = Math.min(max, out.capacity);
      const desc = this.#desc;
      const avail = this.#avail;
      const live = this.#headLive;
      const mask = this.#mask;
      const size = this.size;
      const reader = this.#reader;
      const memory = this.#memory;
      const room = size - (this.#pool.inFlight + this.#used.pending);
      let lastAvail = this.#lastAvail;
      let availIdx = this.#availIdx;
      const inOrder = this.#inOrder;
      let expected = this.#nextInOrder;
      let suspect = false;
      let i = 0;
      while (i < n) {
        if (lastAvail === availIdx) {
          const idx = Atomics.load(avail, 1);
          if (idx === lastAvail) break;
          if ((idx - lastAvail & 65535) > size) {
            suspect = true;
            break;
          }
          availIdx = idx;
        }
        const head = avail[2 + (lastAvail & mask)];
        if (i >= room || head >= size || live[head] !== 0 || inOrder && expected >= 0 && head !== expected) {
          suspect = true;
          break;
        }
        const w = head * 4;
        const flags = desc[w + 3] & 65535;
        if (flags & (VIRTQ_DESC_F_NEXT2 | VIRTQ_DESC_F_INDIRECT2)) break;
        const len = desc[w + 2];
        const bytes = len === 0 ? null : reader.locate(head, desc[w], desc[w + 1], len);
        if (bytes === null && len !== 0) {
          this.error = reader.error;
          break;
        }
        out.set(i++, head, bytes, memory.offset, len, (flags & VIRTQ_DESC_F_WRITE2) !== 0);
        live[head] = 1;
        lastAvail = lastAvail + 1 & 65535;
        if (inOrder) expected = head + 1 & mask;
      }
      this.#lastAvail = lastAvail;
      this.#availIdx = availIdx;
      if (inOrder) this.#nextInOrder = expected;
      out.firstSeq = this.#pool.commitRun(i);
      out.count = i;
      this.stats.chainsPopped += i;
      if (suspect) this.#nextHead();
      return i;
    }
    /** The head of the next available buffer, checked as far as the avail ring goes; -1 if none, or the queue broke. */
    #nextHead() {
      if (this.error !== null) return -1;
      const lastAvail = this.#lastAvail;
      if (lastAvail === this.#availIdx) {
        const availIdx = Atomics.load(this.#avail, 1);
        if (availIdx === lastAvail) return -1;
        const ahead = availIdx - lastAvail & 65535;
        if (ahead > this.size) {
          return this.#fail(
            VirtqueueErrorCode.AVAIL_IDX_AHEAD,
            lastAvail,
            availIdx,
            `avail idx is ${ahead} ahead; the queue holds ${this.size}`
          );
        }
        this.#availIdx = availIdx;
      }
      const outstanding = this.#pool.inFlight + this.#used.pending;
      if (outstanding >= this.size) {
        return this.#fail(VirtqueueErrorCode.TOO_MANY_IN_FLIGHT, lastAvail, outstanding + 1, `the queue holds ${this.size} buffers`);
      }
      const head = this.#avail[2 + (lastAvail & this.#mask)];
      if (head >= this.size) return this.#fail(VirtqueueErrorCode.HEAD_OUT_OF_RANGE, lastAvail, head, `queue size is ${this.size}`);
      if (this.#headLive[head] !== 0) {
        return this.#fail(
          VirtqueueErrorCode.HEAD_IN_FLIGHT,
          lastAvail,
          head,
          "the buffer at this head is in flight (popped, not completed)"
        );
      }
      if (this.#inOrder && head !== this.#nextInOrder && this.#nextInOrder >= 0) {
        return this.#fail(VirtqueueErrorCode.IN_ORDER_HEAD_UNEXPECTED, lastAvail, head, `IN_ORDER requires head ${this.#nextInOrder}`);
      }
      return head;
    }
    /** The buffer at `head` (`descs` descriptors) was popped: move past it. */
    #accept(head, descs) {
      this.#headLive[head] = 1;
      this.#lastAvail = this.#lastAvail + 1 & 65535;
      if (this.#inOrder) this.#nextInOrder = head + descs & this.#mask;
    }
    /** Walks the chain at `head` into `chain`; false (queue broken) on the first bad descriptor. */
    #parse(chain, head) {
      const desc = this.#desc;
      const reader = this.#reader;
      let d = head;
      let count = 0;
      for (; ; ) {
        if (++count > this.size) {
          return this.#failed(VirtqueueErrorCode.CHAIN_TOO_LONG, head, count, "the chain loops or is longer than the queue");
        }
        const w = d * 4;
        const flagsNext = desc[w + 3];
        const flags = flagsNext & 65535;
        if (flags & VIRTQ_DESC_F_INDIRECT2) {
          if (!this.#indirect)
            return this.#failed(VirtqueueErrorCode.INDIRECT_NOT_NEGOTIATED, d, flags, "INDIRECT_DESC was not negotiated");
          if (flags & VIRTQ_DESC_F_NEXT2)
            return this.#failed(VirtqueueErrorCode.INDIRECT_WITH_NEXT, d, flags, "INDIRECT together with NEXT");
          const len = desc[w + 2];
          if (len === 0 || len % VIRTQ_DESC_SIZE !== 0 || len / VIRTQ_DESC_SIZE > this.size) {
            return this.#failed(
              VirtqueueErrorCode.INDIRECT_BAD_LENGTH,
              d,
              len,
              `an indirect table holds 1..${this.size} descriptors of 16 bytes`
            );
          }
          if (!this.#readIndirect(chain, d, desc[w], desc[w + 1], len)) return false;
          break;
        }
        if (!reader.addSegment(chain, d, desc[w], desc[w + 1], desc[w + 2], (flags & VIRTQ_DESC_F_WRITE2) !== 0)) {
          return this.#failedWith(reader.error);
        }
        if ((flags & VIRTQ_DESC_F_NEXT2) === 0) break;
        const next = flagsNext >>> 16;
        if (next >= this.size) return this.#failed(VirtqueueErrorCode.NEXT_OUT_OF_RANGE, d, next, `queue size is ${this.size}`);
        if (this.#inOrder && next !== (d + 1 & this.#mask)) {
          return this.#failed(VirtqueueErrorCode.IN_ORDER_NEXT_UNEXPECTED, d, next, `IN_ORDER requires next ${d + 1 & this.#mask}`);
        }
        d = next;
      }
      chain.descCount = count;
      return true;
    }
    /** Walks the indirect table that descriptor `d` points to; tables chain by `next` like the ring itself. */
    #readIndirect(chain, d, lo, hi, len) {
      const memory = this.#memory;
      const r = memory.locateWords(lo, hi, len);
      if (typeof r !== "number")
        return this.#failed(r, d, hi * 2 ** 32 + lo, `indirect table of ${len} bytes`, addressText(lo, hi));
      const view = memory.regions[r].view;
      const base = memory.offset;
      const n = len / VIRTQ_DESC_SIZE;
      const reader = this.#reader;
      let i = 0;
      let count = 0;
      for (; ; ) {
        if (++count > n) return this.#failed(VirtqueueErrorCode.CHAIN_TOO_LONG, d, count, `the indirect table of ${n} loops`);
        const o = base + i * VIRTQ_DESC_SIZE;
        const flags = view.getUint16(o + 12, true);
        if (flags & VIRTQ_DESC_F_INDIRECT2) {
          return this.#failed(VirtqueueErrorCode.INDIRECT_NESTED, d, i, "an indirect table entry has INDIRECT set");
        }
        const writable = (flags & VIRTQ_DESC_F_WRITE2) !== 0;
        if (!reader.addTableEntry(chain, i, view, o, writable)) return this.#failedWith(reader.error);
        if ((flags & VIRTQ_DESC_F_NEXT2) === 0) return true;
        const next = view.getUint16(o + 14, true);
        if (next >= n) return this.#failed(VirtqueueErrorCode.NEXT_OUT_OF_RANGE, i, next, `indirect table of descriptor ${d} has ${n}`);
        if (this.#inOrder && next !== i + 1) {
          return this.#failed(VirtqueueErrorCode.IN_ORDER_NEXT_UNEXPECTED, i, next, `IN_ORDER requires entry ${i + 1} in indirect tables`);
        }
        i = next;
      }
    }
    complete(chain, written) {
      this.#pool.release(this.name, chain, written, this.#inOrder);
      this.#headLive[chain.id] = 0;
      this.#used.add(chain.id, written, written === chain.writableLength, chain.descCount);
      this.stats.buffersUsed++;
    }
    completeBurst(burst, from, count, written) {
      const pool = this.#pool;
      checkBurstCompletion(this.name, burst, from, count, written, this.#inOrder ? pool.oldestSeq : null, this.#headLive);
      const ids = burst.ids;
      for (let i = from; i < from + count; i++) this.#headLive[ids[i]] = 0;
      this.#used.addBurst(burst, from, count, written);
      pool.releaseRun(count);
      this.stats.buffersUsed += count;
    }
    setUsedEntries(policy) {
      this.#used.setBatched(this.#inOrder && policy === "batched");
    }
    flush() {
      const n = this.#used.pending;
      if (n === 0) return false;
      const old = this.#usedIdx;
      this.#flushBase = old;
      const entries = this.#used.drain(this.#sink);
      const usedIdx = old + n & 65535;
      this.#usedIdx = usedIdx;
      Atomics.store(this.#used16, 1, usedIdx);
      const need = this.#eventIdx ? needEvent(Atomics.load(this.#avail, this.#usedEventAt), usedIdx, old) : (Atomics.load(this.#avail, 0) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
      recordFlush(this.stats, entries, need);
      return need;
    }
    disableNotifications() {
      if (!this.#eventIdx) Atomics.store(this.#used16, 0, VIRTQ_USED_F_NO_NOTIFY);
    }
    enableNotifications() {
      if (this.#eventIdx) Atomics.store(this.#used16, this.#availEventAt, this.#lastAvail);
      else Atomics.store(this.#used16, 0, 0);
      return !this.hasAvailable();
    }
    /** Breaks the queue; -1 for #nextHead(). */
    #fail(code, index, value, detail, exactValue) {
      this.error = new VirtqueueError(code, this.name, index, value, detail, exactValue);
      return -1;
    }
    #failed(code, index, value, detail, exactValue) {
      this.#fail(code, index, value, detail, exactValue);
      return false;
    }
    #failedWith(error) {
      this.error = error;
      return false;
    }
  };

  // src/virtqueue/split/split-driver.ts
  var SplitDriver = class {
    name;
    size;
    features;
    stats = newDriverStats();
    error = null;
    usedLen = 0;
    #mask;
    #inOrder;
    #eventIdx;
    /** Descriptor table, 4 words per descriptor: addr lo, addr hi, len, flags | next << 16. */
    #desc;
    /** avail: [flags, idx, ring[size], used_event]. */
    #avail;
    /** used as 16-bit words: [flags, idx, ..., avail_event at 2 + 4 * size]. */
    #used16;
    /** used as 32-bit words: element i is id at 1 + 2i, len at 2 + 2i. */
    #used32;
    #usedEventAt;
    #availEventAt;
    /** The driver's own record of each in-flight buffer, by head descriptor. */
    #buffers;
    /** Free-list links and each chain's last descriptor (without IN_ORDER). */
    #next;
    #last;
    #freeHead = 0;
    /** Shadow of avail idx, and its value at the last kickPrepare(). */
    #availIdx = 0;
    #kickedIdx = 0;
    /** Next used ring index to read, and the device's used idx as last loaded. */
    #lastUsed = 0;
    #usedIdx = 0;
    #interruptsEnabled = true;
    // IN_ORDER: allocation cursor and oldest in-flight buffer.
    #nextDesc = 0;
    #oldestHead = 0;
    /** Indirect tables, `indirectMax` descriptors for each head, as 32-bit words. */
    #indirect;
    #indirectArea;
    #indirectMax;
    #autoIndirectAbove;
    constructor(config) {
      const { name, size, memory, addresses, features } = config;
      checkQueueSize(name, size, VIRTQ_SPLIT_MAX_SIZE, true);
      const rf = ringFeatures(features);
      if (rf.packed) throw new VirtqueueUsageError(`${name}: RING_PACKED negotiated; use the packed driver`);
      this.name = name;
      this.size = size;
      this.features = features;
      this.#mask = size - 1;
      this.#inOrder = rf.inOrder;
      this.#eventIdx = rf.eventIdx;
      this.#desc = ringView(
        name,
        memory,
        "descriptor table",
        addresses.desc,
        descTableSize(size),
        VIRTQ_DESC_ALIGN,
        Uint32Array
      );
      this.#avail = ringView(
        name,
        memory,
        "avail ring",
        addresses.driver,
        availRingSize(size),
        VIRTQ_AVAIL_ALIGN,
        Uint16Array
      );
      this.#used16 = ringView(
        name,
        memory,
        "used ring",
        addresses.device,
        usedRingSize(size),
        VIRTQ_USED_ALIGN,
        Uint16Array
      );
      this.#used32 = ringView(
        name,
        memory,
        "used ring",
        addresses.device,
        usedRingSize(size) - 2,
        VIRTQ_USED_ALIGN,
        Uint32Array
      );
      this.#usedEventAt = 2 + size;
      this.#availEventAt = 2 + 4 * size;
      this.#buffers = new InFlightBuffers(size, this.stats);
      this.#next = new Uint16Array(size);
      this.#last = new Uint16Array(size);
      for (let i = 0; i < size - 1; i++) this.#next[i] = i + 1;
      this.#autoIndirectAbove = config.autoIndirectAbove ?? 1;
      const indirectMax = Math.min(config.indirectMax ?? 0, size);
      if (rf.indirect && config.indirectArea !== void 0 && indirectMax > 0) {
        const bytes = size * indirectMax * VIRTQ_DESC_SIZE;
        this.#indirect = ringView(
          name,
          memory,
          "indirect tables",
          config.indirectArea,
          bytes,
          VIRTQ_DESC_ALIGN,
          Uint32Array
        );
        this.#indirectArea = config.indirectArea;
        this.#indirectMax = indirectMax;
      } else {
        this.#indirect = null;
        this.#indirectArea = 0;
        this.#indirectMax = 0;
      }
      Atomics.store(this.#avail, 0, 0);
      Atomics.store(this.#avail, this.#usedEventAt, 0);
      Atomics.store(this.#avail, 1, 0);
    }
    get numFree() {
      return this.#buffers.numFree;
    }
    get inFlight() {
      return this.#buffers.count;
    }
    #usesIndirect(sg, indirect) {
      const wanted = indirect === "auto" ? sg.count > this.#autoIndirectAbove : indirect;
      return wanted && this.#indirect !== null && sg.count <= this.#indirectMax;
    }
    canAdd(sg, indirect) {
      return sg.count > 0 && this.#buffers.numFree >= (this.#usesIndirect(sg, indirect) ? 1 : sg.count);
    }
    add(sg, token, indirect) {
      if (this.error !== null) return false;
      if (token === void 0) throw new VirtqueueUsageError(`${this.name}: a buffer's token must not be undefined`);
      const n = sg.count;
      const viaTable = this.#usesIndirect(sg, indirect);
      const ringDescs = viaTable ? 1 : n;
      if (n === 0) throw new VirtqueueUsageError(`${this.name}: a buffer needs at least one segment`);
      if (ringDescs > this.#buffers.numFree) {
        throw new VirtqueueUsageError(`${this.name}: ${ringDescs} descriptors needed, ${this.#buffers.numFree} free`);
      }
      const desc = this.#desc;
      const head = this.#inOrder ? this.#nextDesc : this.#freeHead;
      let last;
      if (viaTable) {
        const table2 = this.#indirect;
        const base = head * this.#indirectMax;
        for (let i = 0; i < n; i++) {
          let flags = i >= sg.readableCount ? VIRTQ_DESC_F_WRITE2 : 0;
          if (i < n - 1) flags |= VIRTQ_DESC_F_NEXT2;
          writeDesc(table2, base + i, sg.addrs[i], sg.lens[i], flags, i + 1);
        }
        const tableAddr = this.#indirectArea + base * VIRTQ_DESC_SIZE;
        writeDesc(desc, head, tableAddr, n * VIRTQ_DESC_SIZE, VIRTQ_DESC_F_INDIRECT2, 0);
        last = head;
        if (this.#inOrder) this.#nextDesc = head + 1 & this.#mask;
        else this.#freeHead = this.#next[head];
        this.stats.indirectAdded++;
      } else {
        let d = head;
        last = head;
        for (let i = 0; i < n; i++) {
          const following = this.#inOrder ? d + 1 & this.#mask : this.#next[d];
          let flags = i >= sg.readableCount ? VIRTQ_DESC_F_WRITE2 : 0;
          if (i < n - 1) flags |= VIRTQ_DESC_F_NEXT2;
          writeDesc(desc, d, sg.addrs[i], sg.lens[i], flags, following);
          last = d;
          d = following;
        }
        if (this.#inOrder) this.#nextDesc = d;
        else this.#freeHead = d;
      }
      this.#buffers.add(head, token, ringDescs, sg.writableLength);
      this.#last[head] = last;
      const slot = 2 + (this.#availIdx & this.#mask);
      if (this.#avail[slot] !== head) this.#avail[slot] = head;
      this.#availIdx = this.#availIdx + 1 & 65535;
      return true;
    }
    addBurst(addrs, lens, tokens, count, writable) {
      if (this.error !== null) return 0;
      const buffers = this.#buffers;
      const room = Math.min(count, buffers.numFree);
      checkBurst(this.name, addrs, lens, tokens, room);
      const desc = this.#desc;
      const avail = this.#avail;
      const flags = writable ? VIRTQ_DESC_F_WRITE2 : 0;
      let idx = this.#availIdx;
      for (let i = 0; i < room; i++) {
        const head = this.#inOrder ? this.#nextDesc : this.#freeHead;
        const following = this.#inOrder ? head + 1 & this.#mask : this.#next[head];
        writeDesc(desc, head, addrs[i], lens[i], flags, following);
        if (this.#inOrder) this.#nextDesc = following;
        else this.#freeHead = following;
        buffers.place(head, tokens[i], 1, writable ? lens[i] : 0, i);
        this.#last[head] = head;
        const slot = 2 + (idx & this.#mask);
        if (avail[slot] !== head) avail[slot] = head;
        idx = idx + 1 & 65535;
      }
      buffers.added(room, room);
      this.#availIdx = idx;
      return room;
    }
    kickPrepare() {
      const newIdx = this.#availIdx;
      const oldIdx = this.#kickedIdx;
      if (newIdx === oldIdx || this.error !== null) return false;
      this.#kickedIdx = newIdx;
      Atomics.store(this.#avail, 1, newIdx);
      const need = this.#eventIdx ? needEvent(Atomics.load(this.#used16, this.#availEventAt), newIdx, oldIdx) : (Atomics.load(this.#used16, 0) & VIRTQ_USED_F_NO_NOTIFY) === 0;
      if (need) this.stats.kicksWanted++;
      else this.stats.kicksSuppressed++;
      return need;
    }
    hasUsed() {
      if (this.error !== null) return false;
      if (this.#buffers.batchLeft > 0 || this.#lastUsed !== this.#usedIdx) return true;
      return this.#lastUsed !== Atomics.load(this.#used16, 1);
    }
    takeUsed() {
      if (this.error !== null) return void 0;
      if (this.#buffers.batchLeft > 0) return this.#takeOldest();
      return this.#usedPublished() ? this.#takeEntry() : void 0;
    }
    takeUsedBurst(tokens, lens, max) {
      const buffers = this.#buffers;
      let n = 0;
      while (n < max) {
        if (buffers.batchLeft > 0 && this.error === null) {
          const k = Math.min(max - n, buffers.batchLeft);
          buffers.takeRun(this.#oldestHead, k, true, tokens, lens, n);
          this.#oldestHead = buffers.nextKey;
          n += k;
          continue;
        }
        const token = this.takeUsed();
        if (token === void 0) break;
        tokens[n] = token;
        lens[n++] = this.usedLen;
      }
      return n;
    }
    /** Whether the device has published a used entry not read yet; loads used idx only when all loaded ones are read. */
    #usedPublished() {
      const lastUsed = this.#lastUsed;
      if (lastUsed !== this.#usedIdx) return true;
      const usedIdx = Atomics.load(this.#used16, 1);
      if (usedIdx === lastUsed) return false;
      const ahead = usedIdx - lastUsed & 65535;
      if (ahead > this.#buffers.count) {
        this.#fail(VirtqueueErrorCode.USED_IDX_AHEAD, lastUsed, usedIdx, `used idx is ${ahead} ahead, ${this.#buffers.count} in flight`);
        return false;
      }
      this.#usedIdx = usedIdx;
      return true;
    }
    /** Reads the published used entry at lastUsed and hands out its buffer (under IN_ORDER, its batch's oldest). */
    #takeEntry() {
      const buffers = this.#buffers;
      const lastUsed = this.#lastUsed;
      const slot = lastUsed & this.#mask;
      const id = this.#used32[1 + 2 * slot];
      const len = this.#used32[2 + 2 * slot];
      this.stats.usedEntriesRead++;
      const problem = buffers.check(id, len, this.#inOrder);
      if (problem !== null) return this.#fail(problem.code, lastUsed, problem.value, problem.detail);
      if (this.#inOrder) {
        const batch = buffers.batchSize(id);
        const published = this.#usedIdx - lastUsed & 65535;
        if (batch > published) {
          return this.#fail(VirtqueueErrorCode.IN_ORDER_BATCH_OVERRUN, lastUsed, id, `batch of ${batch} but only ${published} published`);
        }
        this.#lastUsed = lastUsed + batch & 65535;
        buffers.startBatch(batch, len);
        return this.#takeOldest();
      }
      this.#lastUsed = lastUsed + 1 & 65535;
      this.#next[this.#last[id]] = this.#freeHead;
      this.#freeHead = id;
      this.usedLen = len;
      return buffers.release(id);
    }
    /** IN_ORDER: hand out the oldest in-flight buffer of the current batch (its descriptors follow in ring order). */
    #takeOldest() {
      const head = this.#oldestHead;
      this.usedLen = this.#buffers.nextInBatch(head);
      this.#oldestHead = head + this.#buffers.descs(head) & this.#mask;
      return this.#buffers.release(head);
    }
    disableInterrupts() {
      if (!this.#interruptsEnabled) return;
      this.#interruptsEnabled = false;
      if (!this.#eventIdx) Atomics.store(this.#avail, 0, VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
    enableInterrupts() {
      this.#interruptsEnabled = true;
      if (this.#eventIdx) Atomics.store(this.#avail, this.#usedEventAt, this.#lastUsed);
      else Atomics.store(this.#avail, 0, 0);
      return !this.hasUsed();
    }
    #fail(code, index, value, detail) {
      this.error = new VirtqueueError(code, this.name, index, value, detail);
      return void 0;
    }
  };
  var writeDesc = (words, d, addr, len, flags, next) => storeChangedWords(words, d, addr, len, (flags | next << 16) >>> 0);

  // src/virtqueue/split/layout.ts
  var alignUp = (n, a) => Math.ceil(n / a) * a;
  function splitRingLayout(base, size) {
    const desc = alignUp(base, VIRTQ_DESC_ALIGN);
    const driver = desc + descTableSize(size);
    const device = alignUp(driver + availRingSize(size), VIRTQ_USED_ALIGN);
    return { addresses: { desc, driver, device }, bytes: device + usedRingSize(size) - base };
  }

  // src/virtqueue/packed/layout.ts
  var alignUp2 = (n, a) => Math.ceil(n / a) * a;
  function packedRingLayout(base, size) {
    const desc = alignUp2(base, PVIRTQ_DESC_ALIGN);
    const driver = alignUp2(desc + packedDescRingSize(size), PVIRTQ_EVENT_ALIGN);
    const device = driver + PVIRTQ_EVENT_SIZE;
    return { addresses: { desc, driver, device }, bytes: device + PVIRTQ_EVENT_SIZE - base };
  }

  // src/virtqueue/index.ts
  function createDriverQueue(config) {
    return ringFeatures(config.features).packed ? new PackedDriver(config) : new SplitDriver(config);
  }
  function createDeviceQueue(config) {
    return ringFeatures(config.features).packed ? new PackedDevice(config) : new SplitDevice(config);
  }

  // src/explainer/model.ts
  var DEFAULT_CONFIG = {
    ring: "split",
    inOrder: true,
    usedEntries: "batched",
    indirect: false,
    eventIdx: false,
    queueSize: 8
  };
  var SEGMENT_BYTES = 64;
  var MAX_SEGMENTS = 4;
  var DATA_BASE = 16384;
  var INDIRECT_MAX = MAX_SEGMENTS;
  var QueueModel = class {
    constructor(config) {
      this.config = config;
      const packed = config.ring === "packed";
      this.features = negotiate(
        RING_FEATURES,
        ringWants({ ring: config.ring, inOrder: config.inOrder, indirect: config.indirect, eventIdx: config.eventIdx })
      );
      const layout = (packed ? packedRingLayout : splitRingLayout)(0, config.queueSize);
      this.addresses = layout.addresses;
      this.#ringBytes = layout.bytes;
      const indirectArea = Math.ceil(layout.bytes / 16) * 16;
      const size = DATA_BASE + config.queueSize * MAX_SEGMENTS * SEGMENT_BYTES;
      if (indirectArea + config.queueSize * INDIRECT_MAX * 16 > DATA_BASE) throw new RangeError("queue too large");
      const buffer = new ArrayBuffer(size);
      this.#bytes = new Uint8Array(buffer);
      this.#view = new DataView(buffer);
      this.memory = new GuestMemory([{ guestAddr: 0, size, buffer }]);
      const queue = {
        name: `${config.ring}.0`,
        size: config.queueSize,
        features: this.features,
        memory: this.memory,
        addresses: this.addresses
      };
      this.driver = createDriverQueue({
        ...queue,
        indirectArea,
        indirectMax: INDIRECT_MAX,
        autoIndirectAbove: 1
      });
      this.device = createDeviceQueue({ ...queue, usedEntries: config.usedEntries });
      this.#before = this.#bytes.slice(0, this.#ringBytes);
    }
    features;
    memory;
    addresses;
    driver;
    device;
    #bytes;
    #view;
    #ringBytes;
    /** The ring's bytes before the last step, to mark what it changed. */
    #before;
    #sg = new ScatterList();
    #taken = [];
    #completedUnflushed = 0;
    /** Ring descriptors completed since the last flush (packed: the device's skip). */
    #completedRingDescs = 0;
    #nextBuffer = 0;
    #reclaimed = 0;
    #driverDescs = 0;
    #driverRingSlots = 0;
    /** Packed: ring descriptors made available and used, counted from the start (their positions and wraps). */
    #availRingDescs = 0;
    #usedRingDescs = 0;
    /** The driver adds a buffer of `segments` segments (the first device-readable, the rest device-writable). */
    add(segments) {
      this.#mark();
      const n = Math.max(1, Math.min(MAX_SEGMENTS, Math.round(segments)));
      const seq = this.#nextBuffer;
      const slot = seq % this.config.queueSize;
      const sg = this.#sg.reset();
      for (let j = 0; j < n; j++) {
        const addr = DATA_BASE + (slot * MAX_SEGMENTS + j) * SEGMENT_BYTES;
        if (j === 0 && n > 1) sg.addReadable(addr, SEGMENT_BYTES);
        else sg.addWritable(addr, SEGMENT_BYTES);
      }
      const indirect = this.config.indirect && n > 1;
      if (!this.driver.canAdd(sg, indirect ? "auto" : false)) {
        return { step: "add", ok: false, text: `driver: no room for buffer #${seq} (${n} descriptors)`, rules: [] };
      }
      const before = this.driver.stats.indirectAdded;
      this.driver.add(sg, seq, indirect ? "auto" : false);
      const wentIndirect = this.driver.stats.indirectAdded > before;
      const ringDescs = wentIndirect ? 1 : n;
      this.#nextBuffer++;
      this.#driverDescs += wentIndirect ? 1 + n : n;
      this.#driverRingSlots += this.config.ring === "split" ? 1 : ringDescs;
      const wrapped = this.config.ring === "packed" && Math.floor((this.#availRingDescs + ringDescs) / this.config.queueSize) > Math.floor(this.#availRingDescs / this.config.queueSize);
      this.#availRingDescs += ringDescs;
      const rules = [];
      if (this.config.inOrder && this.config.ring === "split") rules.push("split-sequential", "split-next");
      if (this.config.inOrder && wentIndirect) rules.push("indirect-sequential");
      if (wrapped) rules.push("packed-wrap");
      const how = wentIndirect ? `an indirect table of ${n}` : `${n} descriptor${n > 1 ? "s" : ""}`;
      return { step: "add", ok: true, text: `driver: buffer #${seq} added, ${how} (not yet visible)`, rules };
    }
    /** The driver publishes what it added and notifies the device if the device asked for it. */
    kick() {
      this.#mark();
      const notify = this.driver.kickPrepare();
      const rules = [];
      const text = notify ? "driver: published the new buffers and kicked the device" : "driver: published the new buffers; no kick (the device did not ask for one)";
      return { step: "kick", ok: true, text, rules };
    }
    /** The device takes the next available chain (or, finding none, asks to be kicked next time). */
    take() {
      this.#mark();
      const chain = this.device.pop();
      if (chain === null) {
        const error = this.device.error;
        if (error !== null) return { step: "take", ok: false, text: `device: ${error.message}`, rules: [] };
        this.device.enableNotifications();
        return { step: "take", ok: false, text: "device: nothing available; it asks to be kicked", rules: [] };
      }
      this.device.disableNotifications();
      this.#taken.push(chain);
      const what = this.config.ring === "split" ? `head ${chain.id}` : `Buffer ID ${chain.id}`;
      return {
        step: "take",
        ok: true,
        text: `device: took buffer #${chain.seq} (${what}, ${chain.segCount} segment${chain.segCount > 1 ? "s" : ""})`,
        rules: []
      };
    }
    /** The device completes the oldest chain it took, writing its writable bytes in full. */
    complete() {
      this.#mark();
      const chain = this.#taken.shift();
      if (chain === void 0) return { step: "complete", ok: false, text: "device: no chain taken", rules: [] };
      const seq = chain.seq;
      const fill = new Uint8Array(chain.writableLength).fill(160 + (seq & 31));
      const written = chain.write(fill);
      this.#completedRingDescs += chain.descCount;
      this.device.complete(chain, written);
      this.#completedUnflushed++;
      const rules = this.config.inOrder ? ["device-in-order"] : [];
      return { step: "complete", ok: true, text: `device: completed buffer #${seq}, ${written} bytes written`, rules };
    }
    /** The device publishes its completions (used entries) and interrupts the driver if it asked for it. */
    flush() {
      this.#mark();
      const buffers = this.#completedUnflushed;
      const entriesBefore = this.device.stats.usedEntriesWritten;
      const interrupt = this.device.flush();
      const entries = this.device.stats.usedEntriesWritten - entriesBefore;
      this.#completedUnflushed = 0;
      const wrapped = this.config.ring === "packed" && Math.floor((this.#usedRingDescs + this.#completedRingDescs) / this.config.queueSize) > Math.floor(this.#usedRingDescs / this.config.queueSize);
      this.#usedRingDescs += this.#completedRingDescs;
      this.#completedRingDescs = 0;
      if (buffers === 0) return { step: "flush", ok: false, text: "device: nothing completed to publish", rules: [] };
      const rules = [];
      if (this.config.inOrder && this.config.usedEntries === "batched") {
        rules.push(this.config.ring === "split" ? "split-batch" : "packed-batch");
      }
      if (this.config.ring === "split") rules.push("device-no-desc-write");
      if (wrapped) rules.push("packed-wrap");
      if (this.config.eventIdx) rules.push("event-idx");
      const entryWord = this.config.ring === "split" ? "used ring entr" : "used descriptor";
      const plural = entries === 1 ? this.config.ring === "split" ? "y" : "" : this.config.ring === "split" ? "ies" : "s";
      const told = interrupt ? "and interrupted the driver" : "no interrupt (the driver did not ask for one)";
      return {
        step: "flush",
        ok: true,
        text: `device: published ${buffers} buffer${buffers > 1 ? "s" : ""} with ${entries} ${entryWord}${plural}, ${told}`,
        rules
      };
    }
    /** The driver takes back every used buffer, then asks to be interrupted for the next. */
    reclaim() {
      this.#mark();
      const entriesBefore = this.driver.stats.usedEntriesRead;
      const got = [];
      for (let t = this.driver.takeUsed(); t !== void 0; t = this.driver.takeUsed()) got.push(t);
      this.#reclaimed += got.length;
      this.driver.enableInterrupts();
      const entries = this.driver.stats.usedEntriesRead - entriesBefore;
      if (this.driver.error !== null) {
        return { step: "reclaim", ok: false, text: `driver: ${this.driver.error.message}`, rules: [] };
      }
      if (got.length === 0) return { step: "reclaim", ok: false, text: "driver: nothing used yet", rules: [] };
      const rules = got.length > entries ? ["skipped-in-full"] : [];
      return {
        step: "reclaim",
        ok: true,
        text: `driver: took back buffers #${got.join(", #")} from ${entries} used entr${entries === 1 ? "y" : "ies"}`,
        rules
      };
    }
    /** A whole round: add `n` buffers (as many as fit), kick, take and complete them all, flush, reclaim. */
    run(n, segments) {
      const steps = [];
      for (let i = 0; i < n; i++) {
        const r = this.add(segments);
        steps.push(r);
        if (!r.ok) break;
      }
      steps.push(this.kick());
      for (; ; ) {
        const r = this.take();
        steps.push(r);
        if (!r.ok) break;
      }
      while (this.#taken.length > 0) steps.push(this.complete());
      steps.push(this.flush());
      steps.push(this.reclaim());
      return steps;
    }
    /** The queue's state, decoded from guest memory. */
    snapshot() {
      const c = this.config;
      const d = this.driver.stats;
      const v = this.device.stats;
      const counters = {
        buffersAdded: d.buffersAdded,
        driverDescriptorsWritten: this.#driverDescs,
        driverRingSlotsWritten: this.#driverRingSlots,
        kicksSent: d.kicksWanted,
        kicksSuppressed: d.kicksSuppressed,
        chainsTaken: v.chainsPopped,
        buffersUsed: v.buffersUsed,
        usedEntriesWritten: v.usedEntriesWritten,
        interruptsSent: v.interruptsWanted,
        interruptsSuppressed: v.interruptsSuppressed,
        buffersReclaimed: this.#reclaimed,
        usedEntriesRead: d.usedEntriesRead
      };
      const common = {
        config: { ...c },
        features: describeFeatures(this.features),
        counters,
        inFlight: this.driver.inFlight,
        taken: this.#taken.length,
        completedUnflushed: this.#completedUnflushed
      };
      return c.ring === "split" ? { ...common, ...this.#splitAreas() } : { ...common, ...this.#packedAreas() };
    }
    /** The ring's bytes as they are now: what a step compares against to mark changed slots. */
    ringBytes() {
      return this.#bytes.slice(0, this.#ringBytes);
    }
    #mark() {
      this.#before = this.ringBytes();
    }
    #changed(at, len) {
      for (let i = at; i < at + len; i++) if (this.#bytes[i] !== this.#before[i]) return true;
      return false;
    }
    #slot(index, at, len, fields) {
      return { index, fields, changed: this.#changed(at, len) };
    }
    #u64(at) {
      return this.#view.getUint32(at, true) + this.#view.getUint32(at + 4, true) * 2 ** 32;
    }
    /** Every descriptor of the table or ring: 16 bytes, addr and len, then two 16-bit fields named as the layout does. */
    #descriptors(at12, at14) {
      const v = this.#view;
      return Array.from({ length: this.config.queueSize }, (_, i) => {
        const at = this.addresses.desc + 16 * i;
        return this.#slot(i, at, 16, {
          addr: this.#u64(at),
          len: v.getUint32(at + 8, true),
          [at12]: v.getUint16(at + 12, true),
          [at14]: v.getUint16(at + 14, true)
        });
      });
    }
    #splitAreas() {
      const n = this.config.queueSize;
      const { driver, device } = this.addresses;
      const v = this.#view;
      const descriptors = this.#descriptors("flags", "next");
      const availHeader = this.#slot(-1, driver, 4, {
        flags: v.getUint16(driver, true),
        idx: v.getUint16(driver + 2, true),
        used_event: v.getUint16(driver + 4 + 2 * n, true)
      });
      const avail = Array.from(
        { length: n },
        (_, i) => this.#slot(i, driver + 4 + 2 * i, 2, { id: v.getUint16(driver + 4 + 2 * i, true) })
      );
      const usedHeader = this.#slot(-1, device, 4, {
        flags: v.getUint16(device, true),
        idx: v.getUint16(device + 2, true),
        avail_event: v.getUint16(device + 4 + 8 * n, true)
      });
      const used = Array.from({ length: n }, (_, i) => {
        const at = device + 4 + 8 * i;
        return this.#slot(i, at, 8, { id: v.getUint32(at, true), len: v.getUint32(at + 4, true) });
      });
      return {
        descriptors,
        driverArea: { header: availHeader, entries: avail },
        deviceArea: { header: usedHeader, entries: used },
        wrap: null
      };
    }
    #packedAreas() {
      const n = this.config.queueSize;
      const { driver, device } = this.addresses;
      const v = this.#view;
      const descriptors = this.#descriptors("id", "flags");
      const event = (at) => this.#slot(-1, at, 4, { off_wrap: v.getUint16(at, true), flags: v.getUint16(at + 2, true) });
      const lap = (count) => Math.floor(count / n);
      return {
        descriptors,
        driverArea: { header: event(driver), entries: [] },
        deviceArea: { header: event(device), entries: [] },
        wrap: {
          driver: 1 ^ lap(this.#availRingDescs) & 1,
          driverNext: this.#availRingDescs % n,
          device: 1 ^ lap(this.#usedRingDescs) & 1,
          deviceNext: this.#usedRingDescs % n
        }
      };
    }
  };

  // src/explainer/rules.ts
  var RULES = {
    "split-sequential": {
      id: "split-sequential",
      section: "2.7.5",
      title: "The Virtqueue Descriptor Table",
      quote: "If VIRTIO_F_IN_ORDER has been negotiated, driver uses descriptors in ring order: starting from offset 0 in the table, and wrapping around at the end of the table."
    },
    "split-next": {
      id: "split-next",
      section: "2.7.5.2",
      title: "Driver Requirements: The Virtqueue Descriptor Table",
      quote: "If VIRTIO_F_IN_ORDER has been negotiated, and when making a descriptor with VRING_DESC_F_NEXT set in flags at offset x in the table available to the device, driver MUST set next to 0 for the last descriptor in the table (where x = queue_size - 1) and to x + 1 for the rest of the descriptors."
    },
    "indirect-sequential": {
      id: "indirect-sequential",
      section: "2.7.5.3.1",
      title: "Driver Requirements: Indirect Descriptors",
      quote: "If VIRTIO_F_IN_ORDER has been negotiated, indirect descriptors MUST appear sequentially, with next taking the value of 1 for the 1st descriptor, 2 for the 2nd one, etc."
    },
    "device-in-order": {
      id: "device-in-order",
      section: "6.2",
      title: "Device Requirements: Reserved Feature Bits",
      quote: "If VIRTIO_F_IN_ORDER has been negotiated, a device MUST use buffers in the same order in which they have been available."
    },
    "split-batch": {
      id: "split-batch",
      section: "2.7.9",
      title: "In-order use of descriptors",
      quote: "If negotiated, this knowledge allows devices to notify the use of a batch of buffers to the driver by only writing out a single used ring entry with the id corresponding to the head entry of the descriptor chain describing the last buffer in the batch. The device then skips forward in the ring according to the size of the batch. Accordingly, it increments the used idx by the size of the batch. [...] This will result in the used ring entry at an offset matching the first available ring entry in the batch."
    },
    "packed-batch": {
      id: "packed-batch",
      section: "2.8.8",
      title: "In-order use of descriptors",
      quote: "If negotiated, this knowledge allows devices to notify the use of a batch of buffers to the driver by only writing out a single used descriptor with the Buffer ID corresponding to the last descriptor in the batch. The device then skips forward in the ring according to the size of the batch. [...] This will result in the used descriptor overwriting the first available descriptor in the batch."
    },
    "skipped-in-full": {
      id: "skipped-in-full",
      section: "2.7.9 / 2.8.8",
      title: "In-order use of descriptors",
      quote: "The skipped buffers (for which no used ring entry was written) are assumed to have been used (read or written) by the device completely."
    },
    "packed-wrap": {
      id: "packed-wrap",
      section: "2.8.1",
      title: "Driver and Device Ring Wrap Counters",
      quote: "The driver changes the value of this counter each time it makes available the last descriptor in the ring (after making the last descriptor available). [...] The device changes the value of this counter each time it uses the last descriptor in the ring (after marking the last descriptor used)."
    },
    "device-no-desc-write": {
      id: "device-no-desc-write",
      section: "2.7.5.1",
      title: "Device Requirements: The Virtqueue Descriptor Table",
      quote: "A device MUST NOT write to a device-readable buffer [...]. A device MUST NOT write to any descriptor table entry."
    },
    "event-idx": {
      id: "event-idx",
      section: "2.7.7.2",
      title: "Device Requirements: Used Buffer Notification Suppression",
      quote: "After the device writes a descriptor index into the used ring: If the idx field in the used ring (which determined where that descriptor index was placed) was equal to used_event, the device MUST send a notification. Otherwise the device SHOULD NOT send a notification."
    }
  };

  // src/explainer/figures.ts
  var FIGURES = define_VQ_FIGURES_default;

  // src/explainer/page.ts
  var $ = (sel) => document.querySelector(sel);
  var state = {
    config: { ...DEFAULT_CONFIG },
    segments: 2,
    runCount: 4,
    sideBySide: false,
    models: [],
    log: [],
    rules: []
  };
  function reset() {
    const c = state.config;
    state.models = [new QueueModel(c)];
    if (state.sideBySide) state.models.push(new QueueModel({ ...c, inOrder: !c.inOrder }));
    state.log = [];
    state.rules = [];
    render();
  }
  function step(apply) {
    const results = state.models.map((m) => [apply(m)].flat());
    const mine = results[0];
    state.log.push(...mine.map((r) => r.text));
    state.rules = [...new Set(mine.flatMap((r) => r.rules))];
    render();
  }
  var STEPS = {
    add: () => step((m) => m.add(state.segments)),
    kick: () => step((m) => m.kick()),
    take: () => step((m) => m.take()),
    complete: () => step((m) => m.complete()),
    flush: () => step((m) => m.flush()),
    reclaim: () => step((m) => m.reclaim()),
    run: () => step((m) => m.run(state.runCount, state.segments)),
    reset
  };
  var KEYS = {
    a: STEPS.add,
    k: STEPS.kick,
    t: STEPS.take,
    c: STEPS.complete,
    f: STEPS.flush,
    r: STEPS.reclaim,
    n: STEPS.run,
    x: STEPS.reset,
    i: () => toggle("inOrder"),
    b: () => setConfig({ usedEntries: state.config.usedEntries === "batched" ? "per-buffer" : "batched" }),
    d: () => toggle("indirect"),
    e: () => toggle("eventIdx"),
    p: () => setConfig({ ring: state.config.ring === "split" ? "packed" : "split" }),
    s: () => {
      state.sideBySide = !state.sideBySide;
      reset();
    },
    "+": () => setSegments(state.segments + 1),
    "-": () => setSegments(state.segments - 1)
  };
  function toggle(key) {
    setConfig({ [key]: !state.config[key] });
  }
  function setConfig(change) {
    state.config = { ...state.config, ...change };
    reset();
  }
  function setSegments(n) {
    state.segments = Math.max(1, Math.min(MAX_SEGMENTS, n));
    render();
  }
  function el(tag, text, attrs = {}) {
    const e = document.createElement(tag);
    if (text !== void 0) e.textContent = text;
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }
  function table(heads, rows) {
    const t = el("table");
    const head = el("tr");
    heads.forEach((h) => head.append(el("th", h)));
    t.append(head);
    for (const r of rows) {
      const tr = el("tr", void 0, r.attrs);
      if (r.changed) tr.className = "changed";
      r.cells.forEach((c) => tr.append(el("td", c)));
      t.append(tr);
    }
    return t;
  }
  function renderQueue(s, which) {
    const box = el("section", void 0, { class: "queue", "data-model": String(which) });
    box.append(el("h2", `${s.config.ring} ring, IN_ORDER ${s.config.inOrder ? "on" : "off"}`));
    box.append(el("p", `negotiated: ${s.features}`, { class: "features" }));
    const mem = el("div", void 0, { class: "memory" });
    const descTitle = s.config.ring === "split" ? "Descriptor table" : "Descriptor ring";
    const descBox = el("div", void 0, { class: "area" });
    descBox.append(el("h3", descTitle));
    descBox.append(
      table(
        descriptorHeads(s),
        s.descriptors.map((d) => ({
          cells: descriptorCells(s, d),
          changed: d.changed,
          attrs: { "data-area": "desc", "data-index": String(d.index) }
        }))
      )
    );
    mem.append(descBox);
    const areas = s.config.ring === "split" ? [
      ["Available ring (driver area)", "driver", s.driverArea],
      ["Used ring (device area)", "device", s.deviceArea]
    ] : [
      ["Driver event suppression", "driver", s.driverArea],
      ["Device event suppression", "device", s.deviceArea]
    ];
    for (const [title, key, area] of areas) {
      const box2 = el("div", void 0, { class: "area" });
      box2.append(el("h3", title));
      box2.append(
        el("p", headerText(area.header), {
          class: area.header.changed ? "header changed" : "header",
          "data-area": `${key}-header`
        })
      );
      if (area.entries.length > 0) {
        box2.append(
          table(
            ["#", key === "driver" ? "head" : "used entry"],
            area.entries.map((e) => ({
              cells: [String(e.index), entryText(e)],
              changed: e.changed,
              attrs: { "data-area": key, "data-index": String(e.index) }
            }))
          )
        );
      }
      mem.append(box2);
    }
    if (s.wrap !== null) {
      const w = s.wrap;
      mem.append(
        el(
          "p",
          `driver: wrap counter ${w.driver}, next descriptor ${w.driverNext} \xB7 device: wrap counter ${w.device}, next used position ${w.deviceNext}`,
          { class: "wrap", "data-area": "wrap" }
        )
      );
    }
    box.append(mem);
    box.append(
      el(
        "p",
        `in flight ${s.inFlight} \xB7 taken by the device ${s.taken} \xB7 completed, not yet published ${s.completedUnflushed}`,
        { class: "inflight" }
      )
    );
    const counters = el("dl", void 0, { class: "counters" });
    for (const [key, label] of COUNTER_LABELS) {
      counters.append(el("dt", label));
      counters.append(el("dd", String(s.counters[key]), { "data-counter": key }));
    }
    box.append(counters);
    return box;
  }
  function render() {
    const c = state.config;
    $("#opt-ring").textContent = `ring: ${c.ring} (p)`;
    $("#opt-inorder").textContent = `IN_ORDER: ${c.inOrder ? "on" : "off"} (i)`;
    $("#opt-used").textContent = `used entries: ${c.usedEntries} (b)`;
    $("#opt-indirect").textContent = `INDIRECT_DESC: ${c.indirect ? "on" : "off"} (d)`;
    $("#opt-eventidx").textContent = `EVENT_IDX: ${c.eventIdx ? "on" : "off"} (e)`;
    $("#opt-side").textContent = `side by side: ${state.sideBySide ? "on" : "off"} (s)`;
    $("#segments").value = String(state.segments);
    $("#queue-size").value = String(c.queueSize);
    const queues = $("#queues");
    queues.replaceChildren(...state.models.map((m, i) => renderQueue(m.snapshot(), i)));
    queues.className = state.sideBySide ? "side-by-side" : "";
    const rules = $("#rules");
    rules.replaceChildren(
      ...state.rules.map((id) => {
        const r = RULES[id];
        const b = el("blockquote", void 0, { "data-rule": id });
        b.append(el("cite", `VIRTIO 1.2 section ${r.section}, ${r.title}`));
        b.append(el("p", r.quote));
        return b;
      })
    );
    if (state.rules.length === 0) rules.append(el("p", "The rule each step applies is quoted here.", { class: "hint" }));
    $("#log").replaceChildren(...state.log.slice(-12).map((l) => el("li", l)));
  }
  function renderFigures() {
    const box = $("#figures");
    const rows = FIGURES.gains.map((g) => ({
      cells: [g.suite, g.ring, g.batch, g.gain, g.usedPerBuffer],
      changed: false,
      attrs: {}
    }));
    box.append(
      table(["suite", "ring", "batch", "IN_ORDER gain (throughput)", "used entries per buffer (IN_ORDER)"], rows)
    );
    for (const p of FIGURES.plots) {
      const fig = el("figure");
      const img = el("img", void 0, { src: p.dataUrl, alt: p.caption });
      fig.append(img, el("figcaption", p.caption));
      box.append(fig);
    }
    box.append(el("p", FIGURES.source, { class: "hint" }));
  }
  function wire() {
    for (const [name, run] of Object.entries(STEPS)) $(`#step-${name}`).addEventListener("click", run);
    $("#opt-ring").addEventListener("click", KEYS.p);
    $("#opt-inorder").addEventListener("click", KEYS.i);
    $("#opt-used").addEventListener("click", KEYS.b);
    $("#opt-indirect").addEventListener("click", KEYS.d);
    $("#opt-eventidx").addEventListener("click", KEYS.e);
    $("#opt-side").addEventListener("click", KEYS.s);
    $("#segments").addEventListener(
      "change",
      (e) => setSegments(Number(e.target.value))
    );
    $("#run-count").addEventListener("change", (e) => {
      state.runCount = Math.max(1, Number(e.target.value) || 1);
    });
    $("#queue-size").addEventListener(
      "change",
      (e) => setConfig({ queueSize: Number(e.target.value) })
    );
    document.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || e.target.tagName === "INPUT") return;
      const run = KEYS[e.key];
      if (run === void 0) return;
      e.preventDefault();
      run();
    });
  }
  wire();
  renderFigures();
  reset();
})();
