/* Console section: jobs. Registers with PHConsole.subscribe (static/js/console.js). */
