// Package web holds what searchd serves to browsers: the search box widget
// (widget.js and widget.css, which any site loads with one script tag), the demo
// page at / that uses it, and the API reference page rendered from the OpenAPI
// document. The files are embedded; Handler serves them.
//
// The pages are plain HTML, CSS and JavaScript with no framework, no build step
// and nothing fetched from elsewhere, so they work offline. The package depends on
// nothing of Stacksearch: the server passes it the OpenAPI document.
package web
