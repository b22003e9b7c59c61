/* Console section: board. Registers with PHConsole.subscribe (static/js/console.js). */
