// The HTML productpage serves: the index, the product page with its details and reviews, and the stylesheet.

/** A product of the catalogue. `descriptionHtml` is trusted markup, shown as is. */
export interface Product {
  id: number;
  title: string;
  descriptionHtml: string;
}

/** What an upstream call gave: the status and, when it answered JSON, its body. */
export interface Fetched {
  status: number;
  body: unknown;
}

/** Everything the product page shows. */
export interface ProductPage {
  product: Product;
  details: Fetched;
  reviews: Fetched;
  /** The signed-in user, if any. */
  user: string | undefined;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text or an attribute value made safe to put in HTML. */
export function escapeHtml(value: unknown): string {
  const text = value === undefined || value === null ? '' : String(value);
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function field(obj: unknown, key: string): unknown {
  return typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[key] : undefined;
}

function layout(title: string, body: string): string {
  return `<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="static/bookinfo.css">
</head>
<body>
${body}
</body>
</html>
`;
}

function navbar(user: string | undefined): string {
  const account = user
    ? `<p class="account"><span>${escapeHtml(user)} ( <a href="logout">sign out</a> )</span></p>`
    : `<form class="account" method="post" action="login" name="login_form">
    <input type="text" name="username" id="username" placeholder="User Name">
    <input type="password" name="passwd" placeholder="Password">
    <button type="submit">Sign in</button>
  </form>`;
  return `<nav class="navbar">
  <a class="brand" href="#">BookInfo Sample</a>
  ${account}
</nav>`;
}

function detailsSection(details: Fetched): string {
  if (details.status !== 200) {
    const error = field(details.body, 'error');
    return `<h4>Error fetching product details!</h4>${error ? `\n<p>${escapeHtml(error)}</p>` : ''}`;
  }
  const rows = [
    ['Type', 'type'],
    ['Pages', 'pages'],
    ['Publisher', 'publisher'],
    ['Language', 'language'],
    ['ISBN-10', 'ISBN-10'],
    ['ISBN-13', 'ISBN-13'],
  ].map(([label, key]) => `  <dt>${label}:</dt><dd>${escapeHtml(field(details.body, key!))}</dd>`);
  return `<h4>Book Details</h4>\n<dl>\n${rows.join('\n')}\n</dl>`;
}

/**
 * A rating as Istio's page draws it: a `<font>` in the rating's colour holding one
 * `glyphicon-star` per star and one `glyphicon-star-empty` for each of the other five; the
 * rating's error in italics when reviews could not get it; nothing for zero stars.
 */
function ratingMarkup(rating: unknown): string {
  const stars = field(rating, 'stars');
  if (typeof stars === 'number' && Number.isInteger(stars) && stars > 0) {
    const full = Math.min(stars, 5);
    const icons = [...Array<string>(full).fill('<span class="glyphicon glyphicon-star"></span>'), ...Array<string>(5 - full).fill('<span class="glyphicon glyphicon-star-empty"></span>')];
    return `\n  <font color="${escapeHtml(field(rating, 'color'))}">\n    ${icons.join('\n    ')}\n  </font>`;
  }
  const error = field(rating, 'error');
  return error ? `\n  <p><i>${escapeHtml(error)}</i></p>` : '';
}

function reviewsSection(reviews: Fetched): string {
  if (reviews.status !== 200) {
    const error = field(reviews.body, 'error');
    return `<h4>Error fetching product reviews!</h4>${error ? `\n<p>${escapeHtml(error)}</p>` : ''}`;
  }
  const list = field(reviews.body, 'reviews');
  const podname = field(reviews.body, 'podname');
  const cluster = field(reviews.body, 'clustername');
  const servedBy = podname ? `\n  <small class="served-by">Reviews served by: ${escapeHtml(podname)}${cluster && cluster !== 'null' ? ` on cluster ${escapeHtml(cluster)}` : ''}</small>` : '';
  const items = (Array.isArray(list) ? list : []).map(
    (r: unknown) => `<blockquote>
  <p>${escapeHtml(field(r, 'text'))}</p>
  <small>${escapeHtml(field(r, 'reviewer'))}</small>${ratingMarkup(field(r, 'rating'))}${servedBy}
</blockquote>`,
  );
  return `<h4>Book Reviews</h4>\n${items.join('\n')}`;
}

/** The product page: title and summary, then the details and the reviews, each or its error. */
export function productPageHtml(page: ProductPage): string {
  return layout(
    'Simple Bookstore App',
    `${navbar(page.user)}
<main>
<h3 class="title">${escapeHtml(page.product.title)}</h3>
<p>Summary: ${page.product.descriptionHtml}</p>
<div class="columns">
<section class="details">
${detailsSection(page.details)}
</section>
<section class="reviews">
${reviewsSection(page.reviews)}
</section>
</div>
</main>`,
  );
}

/** A service of the application and the services it calls, for the index page. */
export interface ServiceNode {
  name: string;
  url: string;
  children: ServiceNode[];
}

function serviceTree(nodes: ServiceNode[]): string {
  if (nodes.length === 0) return '';
  const items = nodes.map((n) => `<li><b>${escapeHtml(n.name)}</b> <code>${escapeHtml(n.url)}</code>${serviceTree(n.children)}</li>`);
  return `<ul>${items.join('')}</ul>`;
}

/** The index: what the application is made of, and links that load the product page. */
export function indexHtml(services: ServiceNode[]): string {
  return layout(
    'Simple Bookstore App',
    `<main>
<h3>A small bookstore, made of the services below</h3>
${serviceTree(services)}
<h4>Load the product page as a real user or as a tester:</h4>
<p><a href="/productpage?u=normal">Normal user</a></p>
<p><a href="/productpage?u=test">Test user</a></p>
</main>`,
  );
}

/**
 * The page's stylesheet, served at /static/bookinfo.css. It draws the glyphicon spans as star
 * characters, so the stars show without Bootstrap's icon font.
 */
export const STYLESHEET = `body { font-family: sans-serif; margin: 0; }
.navbar { display: flex; justify-content: space-between; align-items: center; background: #222; color: #ddd; padding: 8px 16px; }
.navbar a, .navbar .account { color: #ddd; margin: 0; }
.brand { font-size: 1.2em; text-decoration: none; }
main { padding: 0 16px; }
.title { text-align: center; }
.columns { display: flex; flex-wrap: wrap; gap: 32px; }
.columns section { flex: 1 1 320px; }
dt { font-weight: bold; }
blockquote { border-left: 4px solid #eee; margin: 16px 0; padding: 4px 16px; }
blockquote small { display: block; color: #777; }
.glyphicon-star::before { content: "\\2605"; }
.glyphicon-star-empty::before { content: "\\2606"; }
`;
