/* Console section: events. Registers with PHConsole.subscribe (static/js/console.js). */
